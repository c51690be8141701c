"""End to end: the SDK against the real Spyglass server, running in this process on a socket.

Skipped where the server package is not importable (the SDK installed on its own).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("server.app", reason="the Spyglass server is not importable here")
uvicorn = pytest.importorskip("uvicorn")

from server.app import create_app  # noqa: E402
from server.bootstrap import prepare_database  # noqa: E402
from server.config import load_settings  # noqa: E402
from server.db.engine import make_engine  # noqa: E402

from spyglass import (  # noqa: E402
    ChatPrompt,
    Spyglass,
    TextPrompt,
    current_observation_id,
    current_trace_id,
    get_prompt,
    observe,
    score,
    update_current_observation,
    update_current_trace,
)

PUBLIC_KEY, SECRET_KEY = "pk-lf-sdk", "sk-lf-sdk"


@contextmanager
def running_server(data_dir: Path) -> Iterator[str]:
    """The real server on a SQLite file in data_dir, under uvicorn in a thread; yields its URL."""
    settings = load_settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 's.db'}",
        init_project="sdk",
        init_public_key=PUBLIC_KEY,
        init_secret_key=SECRET_KEY,
    )
    prepare_database(make_engine(settings.resolved_database_url), settings)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("spyglass")) as url:
        yield url


def fetch_trace(server_url: str, trace_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server_url}/api/public/traces/{trace_id}", auth=(PUBLIC_KEY, SECRET_KEY), timeout=10
    )
    assert response.status_code == 200, response.text
    trace: dict[str, Any] = response.json()
    return trace


@observe(as_type="retriever")
def retrieve(query: str) -> list[str]:
    return [f"doc about {query}"]


@observe(as_type="generation")
def generate(prompt: str, docs: list[str]) -> str:
    update_current_observation(
        model="gpt-4o-mini",
        model_parameters={"temperature": 0.1},
        usage_details={"input": 42, "output": 7},
    )
    return "an answer"


@observe(as_type="tool")
def failing_tool() -> None:
    raise ConnectionError("tool unreachable")


@observe
async def enrich(i: int) -> int:
    await asyncio.sleep(0.001)
    return i


@observe(name="rag-pipeline")
def pipeline(query: str) -> dict[str, Any]:
    update_current_trace(user_id="user-7", session_id="session-1", tags=["sdk-e2e"])
    docs = retrieve(query)
    answer = generate(query, docs)
    asyncio.run(_gather())
    try:
        failing_tool()
    except ConnectionError:
        pass
    score("relevance", 0.75, comment="looks right")
    score("grounded", True, observation_id=current_observation_id())
    return {"answer": answer, "trace": current_trace_id()}


async def _gather() -> list[int]:
    return list(await asyncio.gather(enrich(1), enrich(2)))


def test_nested_calls_arrive_nested_with_generation_details_errors_and_scores(
    server_url: str,
) -> None:
    client = Spyglass(server_url, PUBLIC_KEY, SECRET_KEY, environment="e2e")
    try:
        result = pipeline("what is spyglass")
        assert client.flush(timeout=10)
        assert client.dropped == {}
    finally:
        client.shutdown(timeout=5)
    trace = fetch_trace(server_url, result["trace"])

    assert trace["name"] == "rag-pipeline"
    assert (trace["userId"], trace["sessionId"], trace["tags"]) == (
        "user-7",
        "session-1",
        ["sdk-e2e"],
    )
    assert trace["input"] == {"args": ["what is spyglass"], "kwargs": {}}
    assert trace["output"]["answer"] == "an answer"
    assert trace["environment"] == "e2e"

    observations = {o["name"]: o for o in trace["observations"]}
    assert set(observations) == {"rag-pipeline", "retrieve", "generate", "failing_tool", "enrich"}
    assert len(trace["observations"]) == 6  # enrich ran twice
    root = observations["rag-pipeline"]
    assert root["parentObservationId"] is None and root["type"] == "SPAN"
    for obs in trace["observations"]:
        if obs is not root:
            assert obs["parentObservationId"] == root["id"], obs["name"]

    assert observations["retrieve"]["type"] == "RETRIEVER"
    assert observations["retrieve"]["output"] == ["doc about what is spyglass"]
    generation = observations["generate"]
    assert generation["type"] == "GENERATION"
    assert generation["model"] == "gpt-4o-mini"
    assert generation["modelParameters"] == {"temperature": 0.1}
    assert generation["usageDetails"]["input"] == 42
    assert generation["usageDetails"]["output"] == 7
    tool = observations["failing_tool"]
    assert (tool["type"], tool["level"]) == ("TOOL", "ERROR")
    assert tool["statusMessage"] == "ConnectionError: tool unreachable"

    scores = {s["name"]: s for s in trace["scores"]}
    assert scores["relevance"]["value"] == 0.75
    assert scores["relevance"]["comment"] == "looks right"
    assert scores["grounded"]["dataType"] == "BOOLEAN"
    assert scores["grounded"]["observationId"] == root["id"]


def create_prompt(server_url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{server_url}/api/public/v2/prompts", json=body, auth=(PUBLIC_KEY, SECRET_KEY), timeout=10
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_prompts_are_fetched_compiled_and_linked_to_generations(server_url: str) -> None:
    name = "sdk e2e/greeting"
    create_prompt(server_url, {"name": name, "prompt": "Hi {{name}} v1", "labels": ["production"]})
    create_prompt(server_url, {"name": name, "prompt": "Hi {{ name }} v2", "labels": ["staging"]})
    create_prompt(
        server_url,
        {
            "name": "sdk-e2e-chat",
            "type": "chat",
            "prompt": [
                {"role": "system", "content": "Talk about {{topic}}"},
                {"type": "placeholder", "name": "history"},
            ],
            "labels": ["production"],
            "config": {"temperature": 0.2},
        },
    )
    client = Spyglass(server_url, PUBLIC_KEY, SECRET_KEY)
    try:
        production = get_prompt(name)
        assert isinstance(production, TextPrompt) and not production.is_fallback
        assert (production.version, production.labels) == (1, ["production"])
        assert production.compile(name="Ada") == "Hi Ada v1"
        second = get_prompt(name, version=2)
        assert second.compile(name="Ada") == "Hi Ada v2"
        assert get_prompt(name, label="staging").version == 2
        chat = get_prompt("sdk-e2e-chat")
        assert isinstance(chat, ChatPrompt) and chat.config == {"temperature": 0.2}
        history = [{"role": "user", "content": "hi"}]
        assert chat.compile(topic="tea", placeholders={"history": history}) == [
            {"role": "system", "content": "Talk about tea"},
            *history,
        ]
        with pytest.raises(LookupError):
            get_prompt("no such prompt")
        assert get_prompt("no such prompt", fallback="x").is_fallback

        @observe(as_type="generation")
        def generate_from_prompt() -> str:
            update_current_observation(prompt=second, model="gpt-4o-mini")
            return "answer"

        @observe
        def run() -> str | None:
            generate_from_prompt()
            return current_trace_id()

        trace_id = run()
        assert trace_id is not None
        assert client.flush(timeout=10)
        assert client.dropped == {}
    finally:
        client.shutdown(timeout=5)
    trace = fetch_trace(server_url, trace_id)
    generation = next(o for o in trace["observations"] if o["name"] == "generate_from_prompt")
    assert (generation["promptName"], generation["promptVersion"]) == (name, 2)


@observe
def stream_words(n: int) -> Iterator[str]:
    for i in range(n):
        yield f"w{i}"


@observe(name="worker")
def threaded_work(i: int) -> int:
    return i * 2


@observe(name="fan-out")
def fan_out() -> str | None:
    from concurrent.futures import ThreadPoolExecutor

    from spyglass import bind_context

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(bind_context(threaded_work), [1, 2])) == [2, 4]
    assert list(stream_words(3)) == ["w0", "w1", "w2"]
    return current_trace_id()


def test_threads_generators_masking_and_sampling_as_stored_on_the_server(server_url: str) -> None:
    def mask(value: Any) -> Any:  # the SDK hands over whole inputs and outputs
        if isinstance(value, dict):
            return {k: mask(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mask(v) for v in value]
        return "[masked]" if isinstance(value, str) and "secret" in value else value

    client = Spyglass(server_url, PUBLIC_KEY, SECRET_KEY, mask=mask)
    try:
        trace_id = fan_out()

        @observe(name="leaky")
        def leaky(password: str) -> str:
            return "the secret is out"

        leaky("secret-123")
        assert client.flush(timeout=10)
    finally:
        client.shutdown(timeout=5)
    assert trace_id is not None
    trace = fetch_trace(server_url, trace_id)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for observation in trace["observations"]:
        by_name.setdefault(observation["name"], []).append(observation)
    root = by_name["fan-out"][0]
    assert [w["parentObservationId"] for w in by_name["worker"]] == [root["id"], root["id"]]
    assert sorted(w["output"] for w in by_name["worker"]) == [2, 4]
    (stream,) = by_name["stream_words"]
    assert stream["parentObservationId"] == root["id"]
    assert stream["endTime"] is not None

    listed = httpx.get(
        f"{server_url}/api/public/traces", params={"name": "leaky"}, auth=(PUBLIC_KEY, SECRET_KEY)
    ).json()["data"]
    assert listed, "the masked trace did not arrive"
    leaked = fetch_trace(server_url, listed[0]["id"])
    assert "secret" not in str(leaked["observations"]) and "secret" not in str(leaked["output"])
    assert "[masked]" in str(leaked["observations"])

    sampled_out = Spyglass(server_url, PUBLIC_KEY, SECRET_KEY, sample_rate=0.0)
    try:

        @observe(name="never-sampled")
        def never() -> None:
            return None

        for _ in range(20):
            never()
        assert sampled_out.flush(timeout=10)
    finally:
        sampled_out.shutdown(timeout=5)
    none = httpx.get(
        f"{server_url}/api/public/traces",
        params={"name": "never-sampled"},
        auth=(PUBLIC_KEY, SECRET_KEY),
    ).json()
    assert none["data"] == []
