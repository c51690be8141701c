"""Spans from a real instrumentation library: OpenInference's OpenAI instrumentor around the real
`openai` client, talking to a fake OpenAI server (tests/fake_openai.py), exported with the stock
OTLP/HTTP exporter to a live Spyglass, and read back through the public API.

What openinference-instrumentation-openai 0.1.x emits for a chat completion (one INTERNAL span
named `ChatCompletion`, scope `openinference.instrumentation.openai`):
`openinference.span.kind=LLM`, `llm.system=openai`, `llm.model_name` (the *response* model),
`llm.invocation_parameters` (JSON text of every request argument but the messages),
`llm.input_messages.{i}.message.{role,content}`, `llm.output_messages.{i}.message.{role,content}`,
`llm.token_count.{prompt,completion,total}`, `llm.token_count.prompt_details.{cache_read,audio}`,
`llm.token_count.completion_details.{reasoning,audio}`, `llm.finish_reason`, and the raw request
and response as `input.value` / `output.value` (`application/json`). A streamed call adds a span
event `First Token Stream Event`. Embeddings give a `CreateEmbeddings` span with
`openinference.span.kind=EMBEDDING`, `embedding.model_name`, `embedding.invocation_parameters`,
`embedding.embeddings.{i}.embedding.{text,vector}` and `llm.token_count.{prompt,total}`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Tracer

from server.config import Settings
from tests import fake_openai
from tests.conftest import ProjectKeys
from tests.fake_openai import FakeOpenAI, fake_openai_server
from tests.live import live_server

SYSTEM = {"role": "system", "content": "Answer in one short sentence."}
QUESTION = {"role": "user", "content": "What is the capital of France?"}
SCOPE = "openinference.instrumentation.openai"
# The fake's usage: 31 prompt tokens of which 12 were read from the cache, 8 completion tokens.
# Spyglass keeps each token once: `input` is the uncached part, the cached part is separate.
CHAT_USAGE = {"input": 19, "input_cached_tokens": 12, "output": 8, "total": 39}


class RecordingExporter(SpanExporter):
    """Hands spans to the OTLP exporter and remembers them and whether each export succeeded."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.spans: list[ReadableSpan] = []
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.spans.extend(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


@dataclass
class Instrumented:
    tracer: Tracer
    exporter: RecordingExporter
    provider: TracerProvider

    def finish(self) -> list[ReadableSpan]:
        """Flush, check every export reached Spyglass, and return the spans that were sent."""
        self.provider.force_flush()
        assert self.exporter.results, "nothing was exported"
        assert all(r is SpanExportResult.SUCCESS for r in self.exporter.results)
        return list(self.exporter.spans)


@pytest.fixture(scope="module")
def base_url(settings: Settings, engine: object) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai_server() as server:
        yield server


@pytest.fixture
def instrumented(base_url: str, project: ProjectKeys) -> Iterator[Instrumented]:
    """Instrument `openai` with a provider exporting to Spyglass as `project`; undo it after.

    The instrumentor is a process-wide singleton that patches `openai.OpenAI.request` (and the
    async twin) in place, so it is always uninstrumented here, also when the test fails.
    """
    instrumentor = OpenAIInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry, "openai is already instrumented"
    original = (openai.OpenAI.request, openai.AsyncOpenAI.request)
    exporter = RecordingExporter(
        OTLPSpanExporter(endpoint=f"{base_url}/v1/traces", headers=project.headers)
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor.instrument(tracer_provider=provider)
    try:
        assert openai.OpenAI.request is not original[0], "the instrumentor patched nothing"
        yield Instrumented(provider.get_tracer("spyglass.tests"), exporter, provider)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert (openai.OpenAI.request, openai.AsyncOpenAI.request) == original


def openai_client(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.url + "/v1", api_key="sk-test", max_retries=0)


def stored_trace(client: TestClient, project: ProjectKeys, trace_id: int) -> dict:
    response = client.get(f"/api/public/traces/{trace_id:032x}", auth=project.auth)
    assert response.status_code == 200, response.text
    return response.json()


def only_child(trace: dict, root_name: str) -> tuple[dict, dict]:
    by_name = {o["name"]: o for o in trace["observations"]}
    assert len(by_name) == 2, sorted(by_name)
    root = by_name.pop(root_name)
    (child,) = by_name.values()
    assert child["parentObservationId"] == root["id"]
    return root, child


def nonzero(usage: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in usage.items() if v}


def span_attributes(spans: list[ReadableSpan], name: str) -> dict[str, Any]:
    (span,) = [s for s in spans if s.name == name]
    return dict(span.attributes or {})


class TestOpenInferenceOpenAI:
    def test_a_chat_completion_becomes_a_generation_with_model_usage_messages_and_parameters(
        self,
        instrumented: Instrumented,
        fake: FakeOpenAI,
        client: TestClient,
        project: ProjectKeys,
    ) -> None:
        with instrumented.tracer.start_as_current_span("answer question") as root:
            completion = openai_client(fake).chat.completions.create(
                model="gpt-4o-mini", messages=[SYSTEM, QUESTION], temperature=0.1
            )
        assert completion.choices[0].message.content == fake_openai.ANSWER
        assert fake.requests[-1][0] == "/v1/chat/completions"
        spans = instrumented.finish()
        attributes = span_attributes(spans, "ChatCompletion")
        # What the stored values below come from (the instrumentation, not this test).
        assert attributes["openinference.span.kind"] == "LLM"
        assert attributes["llm.model_name"] == fake_openai.RESPONSE_MODEL
        assert (
            attributes["llm.token_count.prompt"],
            attributes["llm.token_count.completion"],
            attributes["llm.token_count.total"],
            attributes["llm.token_count.prompt_details.cache_read"],
        ) == (31, 8, 39, 12)

        trace = stored_trace(client, project, root.get_span_context().trace_id)
        assert trace["name"] == "answer question"
        _, generation = only_child(trace, "answer question")
        assert generation["name"] == "ChatCompletion"
        assert generation["type"] == "GENERATION"
        assert generation["model"] == "gpt-4o-mini-2024-07-18"
        assert nonzero(generation["usageDetails"]) == CHAT_USAGE
        assert generation["input"] == [SYSTEM, QUESTION]
        assert generation["output"] == [{"role": "assistant", "content": fake_openai.ANSWER}]
        assert generation["modelParameters"]["temperature"] == 0.1
        assert generation["level"] == "DEFAULT"
        assert generation["metadata"]["scope"]["name"] == SCOPE
        attributes_kept = generation["metadata"].get("attributes", {})
        for consumed in (
            "openinference.span.kind",
            "llm.model_name",
            "llm.invocation_parameters",
            "llm.input_messages.0.message.role",
            "llm.output_messages.0.message.content",
            "llm.token_count.prompt",
        ):
            assert consumed not in attributes_kept
        assert generation["startTime"] <= generation["endTime"]

    def test_a_streamed_chat_completion_with_usage_keeps_the_assembled_answer(
        self,
        instrumented: Instrumented,
        fake: FakeOpenAI,
        client: TestClient,
        project: ProjectKeys,
    ) -> None:
        with instrumented.tracer.start_as_current_span("stream answer") as root:
            stream = openai_client(fake).chat.completions.create(
                model="gpt-4o-mini",
                messages=[QUESTION],
                max_tokens=20,
                stream=True,
                stream_options={"include_usage": True},
            )
            pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert "".join(pieces) == fake_openai.ANSWER
        assert fake.requests[-1][1]["stream"] is True
        instrumented.finish()

        trace = stored_trace(client, project, root.get_span_context().trace_id)
        _, generation = only_child(trace, "stream answer")
        assert (generation["type"], generation["model"]) == ("GENERATION", "gpt-4o-mini-2024-07-18")
        assert nonzero(generation["usageDetails"]) == CHAT_USAGE
        assert generation["input"] == [QUESTION]
        assert generation["output"] == [{"role": "assistant", "content": fake_openai.ANSWER}]
        assert generation["modelParameters"]["max_tokens"] == 20
        assert generation["modelParameters"]["stream"] is True

    def test_a_failed_call_is_an_error_generation(
        self,
        instrumented: Instrumented,
        fake: FakeOpenAI,
        client: TestClient,
        project: ProjectKeys,
    ) -> None:
        with instrumented.tracer.start_as_current_span("bad route") as root:
            with pytest.raises(openai.NotFoundError):
                openai_client(fake).completions.create(model="davinci-002", prompt="Hi")
        instrumented.finish()

        trace = stored_trace(client, project, root.get_span_context().trace_id)
        _, failed = only_child(trace, "bad route")
        assert failed["level"] == "ERROR"
        assert "404" in failed["statusMessage"]

    def test_an_embeddings_call_becomes_an_embedding_with_model_and_usage(
        self,
        instrumented: Instrumented,
        fake: FakeOpenAI,
        client: TestClient,
        project: ProjectKeys,
    ) -> None:
        with instrumented.tracer.start_as_current_span("embed") as root:
            result = openai_client(fake).embeddings.create(
                model="text-embedding-3-small", input=["hello world"]
            )
        assert result.data[0].embedding == fake_openai.EMBEDDING
        instrumented.finish()

        trace = stored_trace(client, project, root.get_span_context().trace_id)
        _, embedding = only_child(trace, "embed")
        assert embedding["name"] == "CreateEmbeddings"
        assert (embedding["type"], embedding["model"]) == ("EMBEDDING", "text-embedding-3-small")
        assert embedding["usageDetails"] == {"input": 6, "total": 6}
        # No messages: the raw request (`input.value`) is the input.
        assert embedding["input"]["input"] == ["hello world"]

    def test_embedding_invocation_parameters_are_the_model_parameters(
        self,
        instrumented: Instrumented,
        fake: FakeOpenAI,
        client: TestClient,
        project: ProjectKeys,
    ) -> None:
        with instrumented.tracer.start_as_current_span("embed") as root:
            openai_client(fake).embeddings.create(
                model="text-embedding-3-small", input=["hello world"], dimensions=4
            )
        spans = instrumented.finish()
        assert "embedding.invocation_parameters" in span_attributes(spans, "CreateEmbeddings")

        trace = stored_trace(client, project, root.get_span_context().trace_id)
        _, embedding = only_child(trace, "embed")
        assert embedding["modelParameters"]["dimensions"] == 4
        assert "embedding.invocation_parameters" not in embedding["metadata"].get("attributes", {})

    def test_embedding_vectors_are_not_stored(
        self,
        instrumented: Instrumented,
        fake: FakeOpenAI,
        client: TestClient,
        project: ProjectKeys,
    ) -> None:
        with instrumented.tracer.start_as_current_span("embed") as root:
            openai_client(fake).embeddings.create(
                model="text-embedding-3-small", input=["hello world"]
            )
        spans = instrumented.finish()
        assert "embedding.embeddings.0.embedding.vector" in span_attributes(
            spans, "CreateEmbeddings"
        )

        trace = stored_trace(client, project, root.get_span_context().trace_id)
        _, embedding = only_child(trace, "embed")
        kept = embedding["metadata"].get("attributes", {})
        assert not [key for key in kept if key.endswith(".embedding.vector")]
