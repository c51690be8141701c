"""The real `langfuse` 2.x SDK (which speaks the batch ingestion API) against a live server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from langfuse import Langfuse

from server.config import Settings
from tests.conftest import ProjectKeys
from tests.live import live_server


@pytest.fixture(scope="session")
def base_url(settings: Settings, engine: object) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    # Given to the SDK so its connections are closed when the test ends.
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def langfuse(base_url: str, project: ProjectKeys, http: httpx.Client) -> Iterator[Langfuse]:
    client = Langfuse(
        public_key=project.public_key,
        secret_key=project.secret_key,
        host=base_url,
        flush_at=50,
        flush_interval=0.2,
        max_retries=1,
        httpx_client=http,
    )
    yield client
    client.shutdown()


def test_auth_check_passes_with_a_key_and_fails_with_a_wrong_one(
    langfuse: Langfuse, base_url: str, project: ProjectKeys, http: httpx.Client
) -> None:
    assert langfuse.auth_check() is True
    wrong = Langfuse(
        public_key=project.public_key,
        secret_key="sk-lf-wrong",
        host=base_url,
        max_retries=0,
        httpx_client=http,
    )
    try:
        with pytest.raises(Exception) as excinfo:
            wrong.auth_check()
        assert "401" in str(excinfo.value) or "Invalid credentials" in str(excinfo.value)
    finally:
        wrong.shutdown()


def test_a_trace_written_by_the_sdk_reads_back_through_the_sdk_at_once(langfuse: Langfuse) -> None:
    trace = langfuse.trace(
        name="checkout",
        user_id="user-7",
        session_id="sess-1",
        tags=["prod", "eu"],
        metadata={"plan": "pro"},
        input={"cart": 3},
    )
    span = trace.span(name="retrieve", input={"query": "shoes"})
    generation = span.generation(
        name="answer",
        model="gpt-4o-mini",
        model_parameters={"temperature": 0.1},
        input=[{"role": "user", "content": "Which shoes?"}],
        usage={"input": 42, "output": 17},
    )
    generation.end(output={"role": "assistant", "content": "These."})
    span.end(output={"docs": 2})
    trace.update(output="ordered", metadata={"region": "eu"})
    trace.score(name="helpfulness", value=0.75, comment="good")
    generation.score(name="correct", value=1, data_type="BOOLEAN")
    langfuse.flush()

    fetched = langfuse.fetch_trace(trace.id).data
    assert (fetched.name, fetched.user_id, fetched.session_id) == ("checkout", "user-7", "sess-1")
    assert sorted(fetched.tags) == ["eu", "prod"]
    assert fetched.metadata == {"plan": "pro", "region": "eu"}
    assert fetched.input == {"cart": 3}
    assert fetched.output == "ordered"
    by_name = {o.name: o for o in fetched.observations}
    assert set(by_name) == {"retrieve", "answer"}
    assert by_name["answer"].type == "GENERATION"
    assert by_name["answer"].parent_observation_id == by_name["retrieve"].id
    assert by_name["answer"].model == "gpt-4o-mini"
    assert by_name["answer"].usage.input == 42 and by_name["answer"].usage.output == 17
    assert by_name["answer"].output == {"role": "assistant", "content": "These."}
    assert by_name["retrieve"].end_time is not None
    scores = {s.name: s for s in fetched.scores}
    assert scores["helpfulness"].value == 0.75 and scores["helpfulness"].comment == "good"
    assert scores["correct"].observation_id == by_name["answer"].id

    listed = langfuse.fetch_traces(user_id="user-7").data
    assert [t.id for t in listed] == [trace.id]
    assert listed[0].total_cost == 0
    observations = langfuse.fetch_observations(trace_id=trace.id, type="GENERATION").data
    assert [o.id for o in observations] == [by_name["answer"].id]
    sessions = langfuse.fetch_sessions().data
    assert [s.id for s in sessions] == ["sess-1"]
