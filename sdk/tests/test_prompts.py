"""Prompts: the cache, stale-while-revalidate, fallbacks, compiling, and linking to generations."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from support import Sink, flushed

from spyglass import (
    ChatPrompt,
    Spyglass,
    TextPrompt,
    get_prompt,
    observe,
    start_observation,
    update_current_observation,
)
from spyglass._prompts import PromptNotAvailable


class PromptServer:
    """A fake prompts endpoint in front of an ingestion sink."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.prompts: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.down = False
        self.gate: threading.Event | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if not path.startswith("/api/public/v2/prompts/"):
            return self.sink(request)
        self.requests.append(request)
        if self.gate is not None:
            self.gate.wait(5)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        name = unquote(request.url.raw_path.decode().split("?")[0].rsplit("/", 1)[1])
        body = self.prompts.get(name)
        if body is None:
            return httpx.Response(404, json={"message": f"Prompt not found: {name}"})
        return httpx.Response(200, json=body)


def text_body(
    name: str = "greeting", version: int = 1, prompt: str = "Hi {{name}}"
) -> dict[str, Any]:
    return {
        "id": f"p{version}",
        "name": name,
        "version": version,
        "type": "text",
        "prompt": prompt,
        "config": {"model": "gpt-4o-mini"},
        "labels": ["production"],
        "tags": ["t"],
        "commitMessage": None,
    }


@pytest.fixture
def server(sink: Sink) -> PromptServer:
    return PromptServer(sink)


@pytest.fixture
def client_for(server: PromptServer):  # type: ignore[no-untyped-def]
    clients: list[Spyglass] = []

    def make(**options: Any) -> Spyglass:
        client = Spyglass(
            "http://spyglass.test",
            "pk-lf-test",
            "sk-lf-test",
            transport=httpx.MockTransport(server),
            flush_interval=0.05,
            **options,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown(timeout=2)


def test_fetches_with_auth_label_and_version(server: PromptServer, client_for: Any) -> None:
    server.prompts["a b/c"] = text_body("a b/c", 3)
    client = client_for()
    prompt = client.get_prompt("a b/c")
    assert isinstance(prompt, TextPrompt)
    assert (prompt.name, prompt.version, prompt.is_fallback) == ("a b/c", 3, False)
    assert prompt.config == {"model": "gpt-4o-mini"}
    assert (prompt.labels, prompt.tags) == (["production"], ["t"])
    request = server.requests[0]
    assert request.url.raw_path == b"/api/public/v2/prompts/a%20b%2Fc"
    assert request.headers["authorization"].startswith("Basic ")
    client.get_prompt("a b/c", version=3)
    client.get_prompt("a b/c", label="staging")
    assert dict(server.requests[1].url.params) == {"version": "3"}
    assert dict(server.requests[2].url.params) == {"label": "staging"}
    with pytest.raises(ValueError):
        client.get_prompt("a b/c", version=1, label="x")


def test_cache_hit_within_ttl_makes_no_request(server: PromptServer, client_for: Any) -> None:
    server.prompts["greeting"] = text_body()
    client = client_for()
    first = client.get_prompt("greeting")
    second = get_prompt("greeting")  # module level: the current client
    assert second is first
    assert len(server.requests) == 1


def test_stale_value_is_returned_at_once_and_refreshed_in_background(
    server: PromptServer, client_for: Any
) -> None:
    server.prompts["greeting"] = text_body(version=1)
    client = client_for()
    assert client.get_prompt("greeting", cache_ttl_seconds=0.05).version == 1
    time.sleep(0.1)
    server.prompts["greeting"] = text_body(version=2)
    server.gate = threading.Event()  # the refresh hangs until released
    started = time.monotonic()
    stale = client.get_prompt("greeting", cache_ttl_seconds=0.05)
    again = client.get_prompt("greeting", cache_ttl_seconds=0.05)
    assert time.monotonic() - started < 0.5
    assert (stale.version, again.version) == (1, 1)
    deadline = time.monotonic() + 2
    while len(server.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(server.requests) == 2  # one refresh at a time
    server.gate.set()
    deadline = time.monotonic() + 2
    while client.get_prompt("greeting", cache_ttl_seconds=60).version != 2:
        assert time.monotonic() < deadline, "refresh never landed"
        time.sleep(0.01)
    assert len(server.requests) == 2


def test_failed_refresh_keeps_the_stale_value(server: PromptServer, client_for: Any) -> None:
    server.prompts["greeting"] = text_body(version=1)
    client = client_for()
    client.get_prompt("greeting", cache_ttl_seconds=0.01)
    time.sleep(0.05)
    server.down = True
    assert client.get_prompt("greeting", cache_ttl_seconds=0.01).version == 1
    time.sleep(0.1)
    prompt = client.get_prompt("greeting", cache_ttl_seconds=0.01)
    assert (prompt.version, prompt.is_fallback) == (1, False)


def test_server_down_gives_the_fallback(server: PromptServer, client_for: Any) -> None:
    server.down = True
    client = client_for()
    text = client.get_prompt("greeting", fallback="Hello {{name}}")
    assert isinstance(text, TextPrompt)
    assert (text.is_fallback, text.version, text.prompt) == (True, 0, "Hello {{name}}")
    assert text.compile(name="Ada") == "Hello Ada"
    chat = client.get_prompt("chat", fallback=[{"role": "system", "content": "Be {{tone}}"}])
    assert isinstance(chat, ChatPrompt) and chat.is_fallback
    assert chat.compile(tone="brief") == [{"role": "system", "content": "Be brief"}]


def test_not_found_without_fallback_raises(server: PromptServer, client_for: Any) -> None:
    client = client_for()
    with pytest.raises(LookupError, match="Prompt not found: missing"):
        client.get_prompt("missing")
    assert client.get_prompt("missing", fallback="x").is_fallback


def test_unconfigured_client_uses_fallback_or_raises() -> None:
    client = Spyglass(enabled=False)
    assert client.get_prompt("p", fallback="x").prompt == "x"
    with pytest.raises(PromptNotAvailable, match="not configured"):
        client.get_prompt("p")


def test_text_compile() -> None:
    prompt = TextPrompt("p", 1, "Hi {{name}}, {{ name }} likes {{  food}}; {{unknown}} {{n}}")
    assert prompt.compile(name="Ada", food="tea", n=3) == "Hi Ada, Ada likes tea; {{unknown}} 3"
    assert prompt.compile() == prompt.prompt
    assert prompt.variables == ["name", "food", "unknown", "n"]


def test_chat_compile_with_placeholders() -> None:
    prompt = ChatPrompt(
        "c",
        2,
        [
            {"role": "system", "content": "You help with {{topic}}.", "type": "chatmessage"},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}} {{other}}", "type": "chatmessage"},
        ],
    )
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert prompt.compile(topic="maths", question="2+2?", placeholders={"history": history}) == [
        {"role": "system", "content": "You help with maths."},
        *history,
        {"role": "user", "content": "2+2? {{other}}"},
    ]
    assert prompt.compile(topic="x")[1] == {"type": "placeholder", "name": "history"}
    assert prompt.prompt[0]["type"] == "chatmessage"  # compile does not change the prompt


def test_chat_prompt_from_server(server: PromptServer, client_for: Any) -> None:
    server.prompts["chat"] = {
        **text_body("chat", 4),
        "type": "chat",
        "prompt": [{"role": "system", "content": "Hi {{x}}", "type": "chatmessage"}],
    }
    prompt = client_for().get_prompt("chat")
    assert isinstance(prompt, ChatPrompt)
    assert prompt.compile(x="there") == [{"role": "system", "content": "Hi there"}]


def test_prompt_is_linked_to_generations_but_not_when_fallback(
    sink: Sink, server: PromptServer, client_for: Any
) -> None:
    server.prompts["greeting"] = text_body(version=5)
    client = client_for()
    prompt = client.get_prompt("greeting")
    fallback = client.get_prompt("absent", fallback="x")

    @observe(as_type="generation")
    def generate() -> str:
        update_current_observation(prompt=prompt, model="m")
        return "ok"

    @observe(as_type="generation")
    def generate_with_fallback() -> str:
        update_current_observation(prompt=fallback)
        return "ok"

    generate()
    generate_with_fallback()
    with start_observation("scoped", as_type="generation", prompt=prompt):
        pass
    flushed(client)
    linked = sink.observation("generate")
    assert (linked["promptName"], linked["promptVersion"]) == ("greeting", 5)
    assert "promptName" not in sink.observation("generate_with_fallback")
    scoped = sink.observation("scoped")
    assert (scoped["promptName"], scoped["promptVersion"]) == ("greeting", 5)
