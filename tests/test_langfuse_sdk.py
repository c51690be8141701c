"""The real `langfuse` 5.x SDK (OTLP for spans, REST for scores and reads) against a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langfuse import Langfuse, get_client, observe, propagate_attributes
from langfuse._client.resource_manager import LangfuseResourceManager

from server.config import Settings
from tests.conftest import ProjectKeys
from tests.live import live_server

ALL_FIELDS = "core,basic,time,io,metadata,model,usage,prompt,metrics,trace_context"


@pytest.fixture(scope="module")
def base_url(settings: Settings, engine: object) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture
def langfuse(base_url: str, project: ProjectKeys) -> Iterator[Langfuse]:
    client = Langfuse(
        public_key=project.public_key, secret_key=project.secret_key, base_url=base_url
    )
    yield client
    # The SDK keeps one client per public key for the process; each test has its own project.
    LangfuseResourceManager.reset()


@observe(as_type="generation", name="call-llm")
def call_llm(question: str) -> str:
    get_client().update_current_generation(
        model="gpt-4o-mini",
        model_parameters={"temperature": 0.2},
        usage_details={"input": 42, "output": 17},
        cost_details={"input": 0.0042, "output": 0.0017},
    )
    return f"answer to {question}"


@observe(name="flaky-tool", as_type="tool")
def flaky_tool() -> None:
    raise ValueError("tool exploded")


@observe(name="pipeline")
def pipeline(question: str) -> str:
    with propagate_attributes(
        user_id="user-5", session_id="sess-5", tags=["beta", "eu"], metadata={"plan": "pro"}
    ):
        answer = call_llm(question)
        try:
            flaky_tool()
        except ValueError:
            pass
        return answer


def test_auth_check_passes_with_the_key_and_fails_with_a_wrong_secret(
    langfuse: Langfuse, base_url: str, project: ProjectKeys
) -> None:
    assert langfuse.auth_check() is True
    LangfuseResourceManager.reset()
    wrong = Langfuse(public_key=project.public_key, secret_key="sk-lf-wrong", base_url=base_url)
    with pytest.raises(Exception) as excinfo:
        wrong.auth_check()
    assert "401" in str(excinfo.value) or "Unauthorized" in type(excinfo.value).__name__


def test_observed_functions_are_stored_and_read_back_through_the_sdk(langfuse: Langfuse) -> None:
    assert pipeline("why?") == "answer to why?"
    langfuse.flush()

    observations = langfuse.api.observations.get_many(fields=ALL_FIELDS, limit=100).data
    by_name = {o.name: o for o in observations}
    assert set(by_name) == {"pipeline", "call-llm", "flaky-tool"}
    root, gen, tool = by_name["pipeline"], by_name["call-llm"], by_name["flaky-tool"]
    assert {o.trace_id for o in observations} == {root.trace_id}
    assert root.parent_observation_id is None
    assert gen.parent_observation_id == root.id and tool.parent_observation_id == root.id
    assert (root.type, gen.type, tool.type) == ("SPAN", "GENERATION", "TOOL")

    assert gen.model == "gpt-4o-mini"
    assert gen.model_parameters == {"temperature": 0.2}
    assert gen.usage_details == {"input": 42, "output": 17, "total": 59}
    assert gen.cost_details == {"input": 0.0042, "output": 0.0017}
    assert gen.total_cost == pytest.approx(0.0059)
    assert gen.input == '{"args":["why?"],"kwargs":{}}'
    assert gen.output == "answer to why?"
    assert gen.latency is not None and gen.latency >= 0

    assert (tool.level, tool.status_message) == ("ERROR", "tool exploded")
    assert root.level == "DEFAULT"
    for observation in observations:
        assert (observation.user_id, observation.session_id) == ("user-5", "sess-5")
        assert sorted(observation.tags or []) == ["beta", "eu"]
    assert root.trace_name == "pipeline"


def test_scores_on_a_trace_and_an_observation_read_back_typed(langfuse: Langfuse) -> None:
    pipeline("score me")
    langfuse.flush()
    observations = langfuse.api.observations.get_many(fields="core,basic", limit=100).data
    trace_id = observations[0].trace_id
    generation = next(o for o in observations if o.name == "call-llm")

    langfuse.create_score(trace_id=trace_id, name="helpfulness", value=0.75, comment="fine")
    langfuse.create_score(trace_id=trace_id, name="tone", value="friendly", data_type="CATEGORICAL")
    langfuse.create_score(
        trace_id=trace_id,
        observation_id=generation.id,
        name="correct",
        value=1,
        data_type="BOOLEAN",
    )
    langfuse.flush()

    scores = {
        s.name: s
        for s in langfuse.api.scores.get_many(trace_id=trace_id, fields="details,subject").data
    }
    assert set(scores) == {"helpfulness", "tone", "correct"}
    assert (scores["helpfulness"].data_type, scores["helpfulness"].value) == ("NUMERIC", 0.75)
    assert scores["helpfulness"].comment == "fine"
    assert (scores["tone"].data_type, scores["tone"].value) == ("CATEGORICAL", "friendly")
    assert (scores["correct"].data_type, scores["correct"].value) == ("BOOLEAN", True)
    assert scores["correct"].subject.kind == "observation"
    assert scores["correct"].subject.id == generation.id
    assert all(s.environment == "default" for s in scores.values())


def test_media_in_an_input_is_uploaded_referenced_and_downloadable(langfuse: Langfuse) -> None:
    import base64
    import re

    import httpx

    picture = bytes(range(256)) * 4
    data_uri = "data:image/png;base64," + base64.b64encode(picture).decode()
    with langfuse.start_as_current_observation(
        name="look", as_type="generation", input={"image": data_uri}
    ):
        pass
    langfuse.flush()

    (observation,) = langfuse.api.observations.get_many(fields="core,basic,io", limit=10).data
    reference = re.search(
        r"@@@langfuseMedia:type=image/png\|id=([\w-]+)\|source=base64_data_uri@@@",
        observation.input or "",
    )
    assert reference, observation.input
    media = langfuse.api.media.get(reference[1])
    assert (media.content_type, media.content_length) == ("image/png", len(picture))
    download = httpx.get(media.url)
    assert download.status_code == 200
    assert download.content == picture
    assert download.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(media.url.replace("token=", "token=x")).status_code == 403


def test_prompts_are_versioned_labelled_and_fetched_by_the_sdk(langfuse: Langfuse) -> None:
    first = langfuse.create_prompt(
        name="support/answer",
        prompt="Answer {{question}} briefly.",
        labels=["production"],
        tags=["support"],
        config={"temperature": 0.2},
        commit_message="v1",
    )
    second = langfuse.create_prompt(
        name="support/answer", prompt="Answer {{question}} in detail.", labels=["staging"]
    )
    assert (first.version, second.version) == (1, 2)

    production = langfuse.get_prompt("support/answer", cache_ttl_seconds=0)
    assert production.version == 1
    assert production.compile(question="why") == "Answer why briefly."
    assert production.config == {"temperature": 0.2}
    assert langfuse.get_prompt("support/answer", label="staging", cache_ttl_seconds=0).version == 2
    assert langfuse.get_prompt("support/answer", label="latest", cache_ttl_seconds=0).version == 2
    assert langfuse.get_prompt("support/answer", version=2, cache_ttl_seconds=0).tags == ["support"]

    moved = langfuse.update_prompt(name="support/answer", version=2, new_labels=["production"])
    assert "production" in moved.labels
    assert langfuse.get_prompt("support/answer", cache_ttl_seconds=0).version == 2
    assert (
        "production"
        not in langfuse.get_prompt("support/answer", version=1, cache_ttl_seconds=0).labels
    )

    chat = langfuse.create_prompt(
        name="chat-bot",
        type="chat",
        labels=["production"],
        prompt=[
            {"role": "system", "content": "You are {{persona}}."},
            {"role": "user", "content": "{{q}}"},
        ],
    )
    fetched = langfuse.get_prompt("chat-bot", type="chat", cache_ttl_seconds=0)
    assert fetched.version == chat.version == 1
    assert fetched.compile(persona="kind", q="hi") == [
        {"role": "system", "content": "You are kind."},
        {"role": "user", "content": "hi"},
    ]
    listed = {p.name: p for p in langfuse.api.prompts.list().data}
    assert listed["support/answer"].versions == [1, 2]
    assert sorted(listed["support/answer"].labels) == ["latest", "production", "staging"]
