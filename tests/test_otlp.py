from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from server.config import Settings
from tests.conftest import ProjectKeys
from tests.live import live_server
from tests.otlp_bodies import export, log_export, log_record, span, span_id, trace_id

TRACES = "/api/public/otel/v1/traces"


def post_json(
    client: TestClient, project: ProjectKeys, body: dict, path: str = TRACES, **headers: str
):
    return client.post(
        path,
        content=orjson.dumps(body),
        auth=project.auth,
        headers={"content-type": "application/json", **headers},
    )


def trace(client: TestClient, project: ProjectKeys, tid: str) -> dict:
    response = client.get(f"/api/public/traces/{tid}", auth=project.auth)
    assert response.status_code == 200, response.text
    return response.json()


class TestOtlpJson:
    def test_a_genai_chat_span_becomes_a_generation_with_model_tokens_and_messages(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, root, chat = trace_id(), span_id(), span_id()
        body = export(
            span(
                tid,
                root,
                "agent run",
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "session.id": "s-9",
                    "user.id": "u-9",
                    "input.value": "plan a trip",
                },
            ),
            span(
                tid,
                chat,
                "chat gpt-4o",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.request.temperature": 0.3,
                    "gen_ai.request.max_tokens": 200,
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 40,
                    "gen_ai.usage.cache_read.input_tokens": 20,
                    "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]',
                    "gen_ai.system_instructions": '[{"type":"text","content":"Be brief"}]',
                    "gen_ai.output.messages": [
                        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}
                    ],
                    "custom.thing": "kept",
                },
                parent=root,
                start=0.1,
                end=0.9,
            ),
        )
        response = post_json(client, project, body)
        assert response.status_code == 200
        assert response.json() == {}

        stored = trace(client, project, tid)
        assert stored["name"] == "agent run"
        assert (stored["sessionId"], stored["userId"]) == ("s-9", "u-9")
        assert stored["input"] == "plan a trip"
        obs = {o["id"]: o for o in stored["observations"]}
        assert obs[root]["type"] == "AGENT"
        gen = obs[chat]
        assert gen["type"] == "GENERATION"
        assert gen["parentObservationId"] == root
        assert gen["model"] == "gpt-4o-2024-08-06"  # the response model wins
        assert gen["modelParameters"] == {"temperature": 0.3, "max_tokens": 200}
        assert gen["usageDetails"] == {
            "input": 100,
            "input_cached_tokens": 20,
            "output": 40,
            "total": 160,
        }
        assert gen["input"][0] == {
            "role": "system",
            "parts": [{"type": "text", "content": "Be brief"}],
        }
        assert gen["input"][1]["role"] == "user"
        assert gen["output"] == [
            {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}
        ]
        assert gen["metadata"]["attributes"]["custom.thing"] == "kept"
        assert gen["metadata"]["attributes"]["gen_ai.request.model"] == "gpt-4o"
        assert gen["metadata"]["resourceAttributes"] == {"service.name": "tests"}
        assert "gen_ai.input.messages" not in gen["metadata"]["attributes"]
        assert gen["latency"] == pytest.approx(0.8)

    def test_openinference_flattened_messages_and_token_counts(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, sid = trace_id(), span_id()
        body = export(
            span(
                tid,
                sid,
                "ChatCompletion",
                {
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o-mini",
                    "llm.input_messages.0.message.role": "system",
                    "llm.input_messages.0.message.content": "Be kind",
                    "llm.input_messages.1.message.role": "user",
                    "llm.input_messages.1.message.content": "Hi",
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": "Hello!",
                    "llm.token_count.prompt": 12,
                    "llm.token_count.completion": 3,
                    "llm.token_count.total": 15,
                    "llm.invocation_parameters": '{"temperature": 0}',
                    "tag.tags": ["a", "b"],
                    "metadata": '{"team": "search"}',
                    "input.value": "ignored because messages exist",
                },
            )
        )
        assert post_json(client, project, body).status_code == 200
        stored = trace(client, project, tid)
        (gen,) = stored["observations"]
        assert gen["type"] == "GENERATION"
        assert gen["model"] == "gpt-4o-mini"
        assert gen["input"] == [
            {"role": "system", "content": "Be kind"},
            {"role": "user", "content": "Hi"},
        ]
        assert gen["output"] == [{"role": "assistant", "content": "Hello!"}]
        assert gen["usageDetails"] == {"input": 12, "output": 3, "total": 15}
        assert gen["modelParameters"] == {"temperature": 0}
        assert gen["metadata"]["team"] == "search"
        # The raw input.value is the same prompt in another shape: not stored twice.
        assert "input.value" not in gen["metadata"].get("attributes", {})
        assert stored["tags"] == ["a", "b"]

    def test_openllmetry_indexed_prompts_and_legacy_usage(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, sid = trace_id(), span_id()
        body = export(
            span(
                tid,
                sid,
                "openai.chat",
                {
                    "llm.request.type": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-3.5-turbo",
                    "gen_ai.prompt.0.role": "user",
                    "gen_ai.prompt.0.content": "Tell me a joke",
                    "gen_ai.completion.0.role": "assistant",
                    "gen_ai.completion.0.content": "No.",
                    "gen_ai.usage.prompt_tokens": 9,
                    "gen_ai.usage.completion_tokens": 2,
                    "llm.usage.total_tokens": 11,
                    "gen_ai.prompt.99999.content": "a sparse index must not explode",
                },
            )
        )
        assert post_json(client, project, body).status_code == 200
        (gen,) = trace(client, project, tid)["observations"]
        assert gen["type"] == "GENERATION"
        assert gen["input"][0] == {"role": "user", "content": "Tell me a joke"}
        assert gen["output"] == [{"role": "assistant", "content": "No."}]
        assert gen["usageDetails"] == {"input": 9, "output": 2, "total": 11}

    def test_span_events_and_status_give_content_level_and_message(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, sid = trace_id(), span_id()
        events = [
            {
                "name": "gen_ai.content.prompt",
                "timeUnixNano": "1",
                "attributes": [
                    {
                        "key": "gen_ai.prompt",
                        "value": {"stringValue": '[{"role":"user","content":"q"}]'},
                    }
                ],
            },
            {
                "name": "gen_ai.content.completion",
                "timeUnixNano": "1",
                "attributes": [{"key": "gen_ai.completion", "value": {"stringValue": "a"}}],
            },
            {
                "name": "exception",
                "timeUnixNano": "1",
                "attributes": [{"key": "exception.message", "value": {"stringValue": "boom"}}],
            },
        ]
        body = export(
            span(tid, sid, "llm", {"gen_ai.request.model": "m"}, status={"code": 2}, events=events)
        )
        assert post_json(client, project, body).status_code == 200
        (gen,) = trace(client, project, tid)["observations"]
        assert gen["input"] == [{"role": "user", "content": "q"}]
        assert gen["output"] == "a"
        assert gen["level"] == "ERROR"
        assert gen["statusMessage"] == "boom"
        assert gen["metadata"]["events"][0]["name"] == "exception"

    def test_langfuse_attributes_and_a_child_that_arrives_before_its_parent(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, root, child = trace_id(), span_id(), span_id()
        child_body = export(
            span(
                tid,
                child,
                "generate",
                {
                    "langfuse.observation.type": "generation",
                    "langfuse.observation.model.name": "claude-3-5-sonnet",
                    "langfuse.observation.usage_details": '{"input": 30, "output": 10}',
                    "langfuse.observation.cost_details": '{"input": 0.0001, "output": 0.0002}',
                    "langfuse.observation.input": '{"question": "why"}',
                    "langfuse.observation.output": "because",
                    "langfuse.observation.metadata.step": '"two"',
                    "langfuse.observation.metadata.count": "2",
                    "langfuse.observation.level": "WARN",
                    "langfuse.observation.completion_start_time": '"2026-11-01T12:00:00.250000Z"',
                    "langfuse.observation.prompt.name": "qa",
                    "langfuse.observation.prompt.version": 3,
                    "user.id": "u1",
                    "langfuse.trace.tags": ["x"],
                },
                parent=root,
                start=0.1,
                end=0.5,
            ),
            scope="langfuse-sdk",
        )
        root_body = export(
            span(
                tid,
                root,
                "handler",
                {
                    "langfuse.trace.name": "qa flow",
                    "langfuse.trace.metadata.tier": '"gold"',
                    "langfuse.environment": "Production",
                    "langfuse.release": "r1",
                    "langfuse.observation.input": '{"q": 1}',
                },
            ),
            scope="langfuse-sdk",
        )
        assert post_json(client, project, child_body).status_code == 200
        early = trace(client, project, tid)
        assert [o["id"] for o in early["observations"]] == [child]
        assert post_json(client, project, root_body).status_code == 200

        stored = trace(client, project, tid)
        assert stored["name"] == "qa flow"
        assert stored["userId"] == "u1"
        assert stored["tags"] == ["x"]
        assert stored["metadata"] == {"tier": "gold"}
        assert stored["environment"] == "production"
        assert stored["release"] == "r1"
        assert stored["input"] == {"q": 1}
        assert stored["timestamp"].startswith("2026-11-01T12:00:00")
        obs = {o["id"]: o for o in stored["observations"]}
        gen = obs[child]
        assert (gen["type"], gen["model"], gen["level"]) == (
            "GENERATION",
            "claude-3-5-sonnet",
            "WARNING",
        )
        assert gen["usageDetails"] == {"input": 30, "output": 10, "total": 40}
        assert gen["costDetails"] == {"input": 0.0001, "output": 0.0002}
        assert stored["totalCost"] == pytest.approx(0.0003)
        assert gen["input"] == {"question": "why"} and gen["output"] == "because"
        assert gen["metadata"]["step"] == "two"
        assert gen["metadata"]["count"] == 2  # the SDK JSON-encodes every metadata value
        assert (gen["promptName"], gen["promptVersion"]) == ("qa", 3)
        assert gen["timeToFirstToken"] == pytest.approx(0.15)
        assert obs[root]["parentObservationId"] is None

    def test_an_as_root_span_is_a_root_even_with_a_parent_id(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, sid = trace_id(), span_id()
        body = export(
            span(tid, sid, "detached", {"langfuse.internal.as_root": True}, parent=span_id())
        )
        assert post_json(client, project, body).status_code == 200
        stored = trace(client, project, tid)
        assert stored["name"] == "detached"
        assert stored["observations"][0]["parentObservationId"] is None

    def test_a_resent_export_is_stored_once(self, client: TestClient, project: ProjectKeys) -> None:
        tid = trace_id()
        body = export(span(tid, span_id(), "a", {}), span(tid, span_id(), "b", {}))
        for _ in range(2):
            assert post_json(client, project, body).status_code == 200
        assert len(trace(client, project, tid)["observations"]) == 2


class TestOtlpLogs:
    def test_genai_log_events_fill_the_input_and_output_of_their_span(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, sid = trace_id(), span_id()
        logs = log_export(
            log_record(tid, sid, "gen_ai.system.message", {"content": "Be brief"}),
            log_record(tid, sid, "gen_ai.user.message", {"content": "Hi"}),
            log_record(
                tid,
                sid,
                "gen_ai.choice",
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Hey"},
                },
            ),
        )
        response = post_json(client, project, logs, path="/v1/logs")
        assert response.status_code == 200
        spans = export(
            span(
                tid,
                sid,
                "chat gpt-4o",
                {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
            )
        )
        assert post_json(client, project, spans, path="/v1/traces").status_code == 200
        (gen,) = trace(client, project, tid)["observations"]
        assert gen["type"] == "GENERATION"
        assert gen["input"] == [
            {"content": "Be brief", "role": "system"},
            {"content": "Hi", "role": "user"},
        ]
        assert gen["output"] == [{"role": "assistant", "content": "Hey"}]
        assert gen["name"] == "chat gpt-4o"


class TestOtlpProtocol:
    def test_gzip_and_deflate_bodies_are_accepted(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        for encoding, compress in (("gzip", gzip.compress), ("deflate", zlib.compress)):
            tid = trace_id()
            raw = compress(orjson.dumps(export(span(tid, span_id(), encoding, {}))))
            response = client.post(
                TRACES,
                content=raw,
                auth=project.auth,
                headers={"content-type": "application/json", "content-encoding": encoding},
            )
            assert response.status_code == 200, response.text
            assert trace(client, project, tid)["name"] == encoding

    def test_bad_bodies_get_400_never_500(self, client: TestClient, project: ProjectKeys) -> None:
        headers = {"content-type": "application/json"}
        for raw in (
            b"{",
            b"[]",
            b'{"resourceSpans": {}}',
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":{"a":1}}]}]}]}',
        ):
            response = client.post(TRACES, content=raw, auth=project.auth, headers=headers)
            assert response.status_code == 400, raw
        response = client.post(
            TRACES,
            content=b"\x00garbage",
            auth=project.auth,
            headers={"content-type": "application/x-protobuf"},
        )
        assert response.status_code == 400
        bad_gzip = client.post(
            TRACES,
            content=b"not gzip",
            auth=project.auth,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
        assert bad_gzip.status_code == 400

    def test_a_logs_payload_sent_to_the_traces_endpoint_is_refused_clearly(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, sid = trace_id(), span_id()
        logs_as_spans = {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x"}]}]}]}
        response = post_json(client, project, logs_as_spans)
        assert response.status_code == 400
        assert "valid trace and span ids" in response.json()["message"]
        assert (
            post_json(
                client, project, log_export(log_record(tid, sid, "gen_ai.user.message", "x"))
            ).status_code
            == 200
        )

    def test_spans_without_ids_are_rejected_alone_with_partial_success(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, good = trace_id(), span_id()
        body = export(span(tid, good, "good", {}), span("", "", "no ids", {}))
        response = post_json(client, project, body)
        assert response.status_code == 200
        partial = response.json()["partialSuccess"]
        assert partial["rejectedSpans"] == "1"
        assert "no valid traceId" in partial["errorMessage"]
        assert trace(client, project, tid)["name"] == "good"

    def test_other_content_types_get_415(self, client: TestClient, project: ProjectKeys) -> None:
        response = client.post(
            TRACES, content=b"x", auth=project.auth, headers={"content-type": "text/plain"}
        )
        assert response.status_code == 415

    def test_an_oversized_export_gets_413(
        self, client: TestClient, project: ProjectKeys, settings: Settings
    ) -> None:
        huge = b"{" + b" " * (settings.max_otlp_body_bytes + 1) + b"}"
        response = client.post(
            TRACES,
            content=gzip.compress(huge),
            auth=project.auth,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
        assert response.status_code == 413

    def test_without_a_key_the_endpoint_answers_401(self, client: TestClient) -> None:
        response = client.post(TRACES, content=b"{}", headers={"content-type": "application/json"})
        assert response.status_code == 401


@pytest.fixture(scope="module")
def base_url(settings: Settings, engine: object) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


class TestOpenTelemetrySdk:
    def test_the_stock_otlp_exporter_stores_nested_spans_with_genai_attributes(
        self, base_url: str, project: ProjectKeys, client: TestClient
    ) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.trace import Status, StatusCode

        exporter = OTLPSpanExporter(endpoint=f"{base_url}/v1/traces", headers=project.headers)
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": "shop", "deployment.environment.name": "staging"}
            )
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("my.app", "2.0")
        with tracer.start_as_current_span(
            "handle request", attributes={"user.id": "u-otel", "session.id": "s-otel"}
        ) as root:
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 50,
                    "gen_ai.usage.output_tokens": 7,
                    "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]',
                    "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"Yo"}]}]',
                },
            ):
                pass
            with tracer.start_as_current_span("lookup") as failing:
                failing.set_status(Status(StatusCode.ERROR, "db down"))
            tid = format(root.get_span_context().trace_id, "032x")
        provider.shutdown()

        stored = trace(client, project, tid)
        assert stored["name"] == "handle request"
        assert (stored["userId"], stored["sessionId"], stored["environment"]) == (
            "u-otel",
            "s-otel",
            "staging",
        )
        by_name = {o["name"]: o for o in stored["observations"]}
        gen = by_name["chat gpt-4o-mini"]
        assert (gen["type"], gen["model"]) == ("GENERATION", "gpt-4o-mini")
        assert gen["usageDetails"] == {"input": 50, "output": 7, "total": 57}
        assert gen["input"] == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
        assert gen["output"] == [
            {"role": "assistant", "parts": [{"type": "text", "content": "Yo"}]}
        ]
        assert gen["parentObservationId"] == by_name["handle request"]["id"]
        assert (by_name["lookup"]["level"], by_name["lookup"]["statusMessage"]) == (
            "ERROR",
            "db down",
        )
        assert gen["metadata"]["scope"] == {"name": "my.app", "version": "2.0"}

    def test_the_exporter_gets_a_protobuf_answer(self, base_url: str, project: ProjectKeys) -> None:
        import httpx
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        scope_spans = request.resource_spans.add().scope_spans.add()
        good = scope_spans.spans.add(
            trace_id=bytes.fromhex(trace_id()), span_id=bytes.fromhex(span_id()), name="ok"
        )
        good.start_time_unix_nano = 1_700_000_000_000_000_000
        scope_spans.spans.add(name="no ids")
        response = httpx.post(
            f"{base_url}/api/public/otel/v1/traces",
            content=request.SerializeToString(),
            auth=project.auth,
            headers={"content-type": "application/x-protobuf"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-protobuf"
        reply = ExportTraceServiceResponse.FromString(response.content)
        assert reply.partial_success.rejected_spans == 1
