"""`spyglass.openai`: the real `openai` clients against a fake OpenAI server, recorded to a sink."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from support import Sink, flushed

pytest.importorskip("openai")

import openai  # noqa: E402

from spyglass import Spyglass, current_trace_id, observe  # noqa: E402
from spyglass.openai import (  # noqa: E402
    AsyncOpenAI,
    OpenAI,
    response_usage_details,
    usage_details,
)

RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
PIECES = ["Paris", " is the capital", " of France", "."]
ANSWER = "".join(PIECES)
USAGE = {
    "prompt_tokens": 31,
    "completion_tokens": 8,
    "total_tokens": 39,
    "prompt_tokens_details": {"cached_tokens": 12, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0},
}
EXPECTED_USAGE = {
    "input": 19,
    "output": 5,
    "total": 39,
    "input_cached_tokens": 12,
    "output_reasoning_tokens": 3,
}
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def completion() -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_730_000_000,
        "model": RESPONSE_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": USAGE,
    }


def chunk(delta: dict[str, Any] | None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}]
    )
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_730_000_000,
        "model": RESPONSE_MODEL,
        "choices": choices,
        "usage": usage,
    }


RESPONSES_USAGE = {
    "input_tokens": 31,
    "input_tokens_details": {"cached_tokens": 12},
    "output_tokens": 8,
    "output_tokens_details": {"reasoning_tokens": 3},
    "total_tokens": 39,
}
RESPONSES_INPUT = "What is the capital of France?"
INSTRUCTIONS = "Answer in one sentence."


def response_object(status: str = "completed") -> dict[str, Any]:
    """A Responses API `Response`, as the real API returns it."""
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": 1_730_000_000,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": RESPONSE_MODEL,
        "output": (
            [
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
                }
            ]
            if status == "completed"
            else []
        ),
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 0.2,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": RESPONSES_USAGE if status == "completed" else None,
        "user": None,
        "metadata": {},
    }


def response_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response_object("in_progress")},
    ]
    events += [
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": piece,
            "logprobs": [],
        }
        for piece in PIECES
    ]
    events.append({"type": "response.completed", "response": response_object()})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                if body.get("model") == "bad-model":
                    self._json(
                        400,
                        {
                            "error": {
                                "message": "The model `bad-model` does not exist",
                                "type": "invalid_request_error",
                                "param": "model",
                                "code": "model_not_found",
                            }
                        },
                    )
                elif self.path.endswith("/responses"):
                    if body.get("stream"):
                        self._events(
                            [
                                f"event: {e['type']}\ndata: {json.dumps(e)}\n\n"
                                for e in response_events()
                            ]
                        )
                    else:
                        self._json(200, response_object())
                elif body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    events = [chunk({"role": "assistant", "content": ""})]
                    events += [chunk({"content": piece}) for piece in PIECES]
                    if (body.get("stream_options") or {}).get("include_usage"):
                        events.append(chunk(None, USAGE))
                    for event in events:
                        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                else:
                    self._json(200, completion())

            def _events(self, events: list[str]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for event in events:
                    self.wfile.write(event.encode())

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    yield server
    server.close()


def generations(sink: Sink) -> list[dict[str, Any]]:
    return [o for o in sink.observations() if o["type"] == "generation"]


def assert_recorded(generation: dict[str, Any], *, streamed: bool = False) -> None:
    assert generation["name"] == "OpenAI-generation"
    assert generation["model"] == RESPONSE_MODEL
    assert generation["modelParameters"] == {"temperature": 0.2, "max_tokens": 50}
    assert generation["input"] == MESSAGES
    assert generation["output"] == {"role": "assistant", "content": ANSWER}
    assert generation["usageDetails"] == EXPECTED_USAGE
    assert ("completionStartTime" in generation) is streamed
    assert "level" not in generation


def test_usage_details_subtracts_cached_and_reasoning_tokens() -> None:
    assert usage_details(USAGE) == EXPECTED_USAGE
    assert usage_details({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}) == {
        "input": 3,
        "output": 2,
        "total": 5,
    }
    assert usage_details(None) is None


def test_sync_completion_nested_under_current_observation(
    client: Spyglass, sink: Sink, fake: FakeOpenAI
) -> None:
    openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)
    assert isinstance(openai_client, openai.OpenAI)

    @observe
    def ask() -> str | None:
        response = openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50
        )
        content: str | None = response.choices[0].message.content
        return content

    assert ask() == ANSWER
    flushed(client)
    (generation,) = generations(sink)
    assert_recorded(generation)
    parent = sink.observation("ask")
    assert generation["parentObservationId"] == parent["id"]
    assert generation["traceId"] == parent["traceId"]
    assert "stream_options" not in fake.requests[-1]


def test_completion_outside_any_observation_is_its_own_trace(
    client: Spyglass, sink: Sink, fake: FakeOpenAI
) -> None:
    openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)
    openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50
    )
    flushed(client)
    (generation,) = generations(sink)
    assert_recorded(generation)
    assert generation.get("parentObservationId") is None
    (trace,) = sink.bodies("trace-create")
    assert trace["id"] == generation["traceId"]


def test_async_completion(client: Spyglass, sink: Sink, fake: FakeOpenAI) -> None:
    async def run() -> str | None:
        openai_client = AsyncOpenAI(api_key="sk-test", base_url=fake.base_url)
        response = await openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50
        )
        await openai_client.close()
        content: str | None = response.choices[0].message.content
        return content

    assert asyncio.run(run()) == ANSWER
    flushed(client)
    (generation,) = generations(sink)
    assert_recorded(generation)


def test_sync_stream_accumulates_and_hides_the_usage_chunk_it_asked_for(
    client: Spyglass, sink: Sink, fake: FakeOpenAI
) -> None:
    openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)
    stream = openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50, stream=True
    )
    # The usage-only chunk we asked for is not handed to code that reads choices[0].
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == ANSWER
    assert fake.requests[-1]["stream_options"] == {"include_usage": True}
    flushed(client)
    (generation,) = generations(sink)
    assert_recorded(generation, streamed=True)
    assert generation["completionStartTime"] >= generation["startTime"]
    assert generation["completionStartTime"] <= generation["endTime"]


def test_stream_with_user_stream_options_is_left_alone(
    client: Spyglass, sink: Sink, fake: FakeOpenAI
) -> None:
    openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)
    with openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    flushed(client)
    (generation,) = generations(sink)
    assert generation["usageDetails"] == EXPECTED_USAGE
    assert generation["output"] == {"role": "assistant", "content": ANSWER}


def test_stream_closed_early_records_what_came(
    client: Spyglass, sink: Sink, fake: FakeOpenAI
) -> None:
    openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)
    stream = openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    next(stream)
    next(stream)
    stream.close()
    flushed(client)
    (generation,) = generations(sink)
    assert generation["output"] == {"role": "assistant", "content": PIECES[0]}
    assert "completionStartTime" in generation


def test_async_stream(client: Spyglass, sink: Sink, fake: FakeOpenAI) -> None:
    async def run() -> str:
        openai_client = AsyncOpenAI(api_key="sk-test", base_url=fake.base_url)
        stream = await openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50, stream=True
        )
        text = ""
        async for c in stream:
            text += c.choices[0].delta.content or ""
        await openai_client.close()
        return text

    assert asyncio.run(run()) == ANSWER
    flushed(client)
    (generation,) = generations(sink)
    assert_recorded(generation, streamed=True)


def test_api_error_is_recorded_and_reraised_unchanged(
    client: Spyglass, sink: Sink, fake: FakeOpenAI
) -> None:
    openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.chat.completions.create(model="bad-model", messages=MESSAGES)
    assert raised.value.status_code == 400
    flushed(client)
    (generation,) = generations(sink)
    assert generation["level"] == "ERROR"
    assert generation["statusMessage"].startswith("BadRequestError: ")
    assert "bad-model" in generation["statusMessage"]
    assert generation["model"] == "bad-model"
    assert "output" not in generation


def test_async_api_error(client: Spyglass, sink: Sink, fake: FakeOpenAI) -> None:
    async def run() -> None:
        openai_client = AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)
        try:
            await openai_client.chat.completions.create(model="bad-model", messages=MESSAGES)
        finally:
            await openai_client.close()

    with pytest.raises(openai.BadRequestError):
        asyncio.run(run())
    flushed(client)
    (generation,) = generations(sink)
    assert generation["level"] == "ERROR"


def test_disabled_sdk_still_answers(fake: FakeOpenAI) -> None:
    client = Spyglass(enabled=False)
    try:
        openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)
        response = openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert response.choices[0].message.content == ANSWER
        stream = openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream) == ANSWER
    finally:
        client.shutdown(timeout=2)


def assert_response_recorded(generation: dict[str, Any], *, streamed: bool = False) -> None:
    assert generation["name"] == "OpenAI-generation"
    assert generation["model"] == RESPONSE_MODEL
    assert generation["modelParameters"] == {"temperature": 0.2, "max_output_tokens": 50}
    assert generation["input"] == [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": RESPONSES_INPUT},
    ]
    assert generation["output"] == ANSWER
    assert generation["usageDetails"] == EXPECTED_USAGE
    assert generation["metadata"] == {"metadata": {"purpose": "test"}}
    assert ("completionStartTime" in generation) is streamed
    assert "level" not in generation


def ask_response(openai_client: Any, **extra: Any) -> Any:
    return openai_client.responses.create(
        model="gpt-4o-mini",
        input=RESPONSES_INPUT,
        instructions=INSTRUCTIONS,
        temperature=0.2,
        max_output_tokens=50,
        metadata={"purpose": "test"},
        **extra,
    )


def test_response_usage_details() -> None:
    assert response_usage_details(RESPONSES_USAGE) == EXPECTED_USAGE
    assert response_usage_details(None) is None


def test_sync_response_nested_under_current_observation(
    client: Spyglass, sink: Sink, fake: FakeOpenAI
) -> None:
    openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)

    @observe
    def ask() -> str:
        response = ask_response(openai_client)
        assert response.usage.input_tokens == 31
        text: str = response.output_text
        return text

    assert ask() == ANSWER
    assert fake.requests[-1]["instructions"] == INSTRUCTIONS
    flushed(client)
    (generation,) = generations(sink)
    assert_response_recorded(generation)
    assert generation["parentObservationId"] == sink.observation("ask")["id"]


def test_response_input_list_without_instructions(
    client: Spyglass, sink: Sink, fake: FakeOpenAI
) -> None:
    openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)
    openai_client.responses.create(model="gpt-4o-mini", input=MESSAGES)
    flushed(client)
    (generation,) = generations(sink)
    assert generation["input"] == MESSAGES
    assert generation["output"] == ANSWER
    assert "modelParameters" not in generation or not generation["modelParameters"]


def test_async_response(client: Spyglass, sink: Sink, fake: FakeOpenAI) -> None:
    async def run() -> str:
        openai_client = AsyncOpenAI(api_key="sk-test", base_url=fake.base_url)
        response = await ask_response(openai_client)
        await openai_client.close()
        text: str = response.output_text
        return text

    assert asyncio.run(run()) == ANSWER
    flushed(client)
    (generation,) = generations(sink)
    assert_response_recorded(generation)


def test_sync_response_stream(client: Spyglass, sink: Sink, fake: FakeOpenAI) -> None:
    openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)
    stream = ask_response(openai_client, stream=True)
    events = list(stream)
    assert events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == ANSWER
    flushed(client)
    (generation,) = generations(sink)
    assert_response_recorded(generation, streamed=True)


def test_async_response_stream(client: Spyglass, sink: Sink, fake: FakeOpenAI) -> None:
    async def run() -> str:
        openai_client = AsyncOpenAI(api_key="sk-test", base_url=fake.base_url)
        stream = await ask_response(openai_client, stream=True)
        text = ""
        async for event in stream:
            if event.type == "response.output_text.delta":
                text += event.delta
        await openai_client.close()
        return text

    assert asyncio.run(run()) == ANSWER
    flushed(client)
    (generation,) = generations(sink)
    assert_response_recorded(generation, streamed=True)


def test_response_api_error_is_recorded_and_reraised_unchanged(
    client: Spyglass, sink: Sink, fake: FakeOpenAI
) -> None:
    openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.responses.create(model="bad-model", input=RESPONSES_INPUT)
    assert raised.value.status_code == 400
    flushed(client)
    (generation,) = generations(sink)
    assert generation["level"] == "ERROR"
    assert generation["statusMessage"].startswith("BadRequestError: ")
    assert generation["model"] == "bad-model"
    assert generation["input"] == RESPONSES_INPUT
    assert "output" not in generation


def test_async_response_api_error(client: Spyglass, sink: Sink, fake: FakeOpenAI) -> None:
    async def run() -> None:
        openai_client = AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)
        try:
            await openai_client.responses.create(model="bad-model", input=RESPONSES_INPUT)
        finally:
            await openai_client.close()

    with pytest.raises(openai.BadRequestError):
        asyncio.run(run())
    flushed(client)
    (generation,) = generations(sink)
    assert generation["level"] == "ERROR"


def test_disabled_sdk_still_answers_responses(fake: FakeOpenAI) -> None:
    client = Spyglass(enabled=False)
    try:
        openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)
        assert openai_client.responses.create(model="m", input="hi").output_text == ANSWER
    finally:
        client.shutdown(timeout=2)


def test_against_the_live_server(
    fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    live = pytest.importorskip("test_live_server")
    with live.running_server(tmp_path_factory.mktemp("spyglass-openai")) as url:
        _ask_through_the_live_server(live, url, fake)


def _ask_through_the_live_server(live: Any, url: str, fake: FakeOpenAI) -> None:
    client = Spyglass(url, live.PUBLIC_KEY, live.SECRET_KEY)
    try:
        openai_client = OpenAI(api_key="sk-test", base_url=fake.base_url)

        @observe
        def ask() -> str | None:
            openai_client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50
            )
            return current_trace_id()

        trace_id = ask()
        assert trace_id is not None
        assert client.flush(timeout=10)
        assert client.dropped == {}
    finally:
        client.shutdown(timeout=5)
    trace = live.fetch_trace(url, trace_id)
    generation = next(o for o in trace["observations"] if o["type"] == "GENERATION")
    assert generation["name"] == "OpenAI-generation"
    assert generation["model"] == RESPONSE_MODEL
    assert generation["input"] == MESSAGES
    assert generation["output"] == {"role": "assistant", "content": ANSWER}
    assert generation["usageDetails"]["input"] == EXPECTED_USAGE["input"]
    assert generation["usageDetails"]["output"] == EXPECTED_USAGE["output"]
    assert generation["usageDetails"]["input_cached_tokens"] == 12


def test_async_and_streamed_calls_as_stored_on_the_live_server(
    fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    live = pytest.importorskip("test_live_server")
    with live.running_server(tmp_path_factory.mktemp("spyglass-openai-stream")) as url:
        client = Spyglass(url, live.PUBLIC_KEY, live.SECRET_KEY)
        try:
            sync_client = OpenAI(api_key="sk-test", base_url=fake.base_url)
            async_client = AsyncOpenAI(api_key="sk-test", base_url=fake.base_url)

            @observe
            async def ask_all() -> str | None:
                stream = sync_client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True
                )
                assert "".join(c.choices[0].delta.content or "" for c in stream) == ANSWER
                await async_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
                astream = await async_client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True
                )
                parts = [c.choices[0].delta.content or "" async for c in astream if c.choices]
                assert "".join(parts) == ANSWER
                return current_trace_id()

            trace_id = asyncio.run(ask_all())
            assert trace_id is not None
            assert client.flush(timeout=10)
        finally:
            client.shutdown(timeout=5)
        trace = live.fetch_trace(url, trace_id)
    generations = [o for o in trace["observations"] if o["type"] == "GENERATION"]
    assert len(generations) == 3
    for generation in generations:
        assert generation["model"] == RESPONSE_MODEL
        assert generation["input"] == MESSAGES
        assert generation["output"]["content"] == ANSWER
        assert generation["usageDetails"]["input"] == EXPECTED_USAGE["input"]
        assert generation["usageDetails"]["output"] == EXPECTED_USAGE["output"]
    streamed = [g for g in generations if g["completionStartTime"] is not None]
    assert len(streamed) == 2  # the two streams record their first chunk
