"""The Langfuse-compatible read and manage routes.

Traces, observations (legacy and v2), scores (v1 and v3), sessions, projects and health.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import server
from tests.conftest import ProjectKeys
from tests.factories import (
    T0,
    event,
    generation_event,
    iso,
    new_id,
    score_event,
    span_event,
    trace_event,
)

API = "/api/public"


def ingest(client: TestClient, project: ProjectKeys, events: list[dict[str, Any]]) -> None:
    response = client.post(f"{API}/ingestion", json={"batch": events}, auth=project.auth)
    assert response.status_code == 207, response.text
    assert response.json()["errors"] == []


def get(client: TestClient, project: ProjectKeys, path: str, **params: Any) -> Any:
    response = client.get(f"{API}{path}", params=params, auth=project.auth)
    assert response.status_code == 200, response.text
    return response.json()


def ids(listing: dict[str, Any]) -> list[str]:
    return [item["id"] for item in listing["data"]]


def assert_bad_request(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["message"] == "Invalid request data"
    assert body["error"]  # the problems, for the client to show


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["error"] == "LangfuseNotFoundError"
    assert "not found" in body["message"]


def encode_cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


class TestTraceListFilters:
    def test_user_name_session_and_environment_each_narrow_the_list(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        t1, t2, t3 = new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                trace_event(
                    t1, name="chat", userId="alice", sessionId="s1", environment="production"
                ),
                trace_event(t2, name="chat", userId="bob", sessionId="s2", environment="staging"),
                trace_event(
                    t3, name="search", userId="alice", sessionId="s2", environment="staging"
                ),
            ],
        )
        assert sorted(ids(get(client, project, "/traces", userId="alice"))) == sorted([t1, t3])
        assert sorted(ids(get(client, project, "/traces", name="chat"))) == sorted([t1, t2])
        assert sorted(ids(get(client, project, "/traces", sessionId="s2"))) == sorted([t2, t3])
        assert ids(get(client, project, "/traces", environment="production")) == [t1]
        assert ids(get(client, project, "/traces", userId="alice", name="search")) == [t3]
        assert ids(get(client, project, "/traces", userId="nobody")) == []

    def test_tags_keep_only_traces_that_have_every_tag(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        only_a, a_and_b, b_and_c = new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                trace_event(only_a, tags=["a"]),
                trace_event(a_and_b, tags=["a", "b"]),
                trace_event(b_and_c, tags=["b", "c"]),
            ],
        )
        assert sorted(ids(get(client, project, "/traces", tags="a"))) == sorted([only_a, a_and_b])
        assert ids(get(client, project, "/traces", tags=["a", "b"])) == [a_and_b]
        assert ids(get(client, project, "/traces", tags="a,b")) == [a_and_b]
        assert ids(get(client, project, "/traces", tags=["a", "c"])) == []
        listing = get(client, project, "/traces", tags="b", limit=1)
        assert listing["meta"]["totalItems"] == 2
        assert len(listing["data"]) == 1

    def test_the_time_window_includes_from_and_excludes_to(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        early, middle, late = new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                trace_event(early, timestamp=iso(T0)),
                trace_event(middle, timestamp=iso(T0 + seconds(1))),
                trace_event(late, timestamp=iso(T0 + seconds(2))),
            ],
        )
        window = get(
            client,
            project,
            "/traces",
            fromTimestamp=iso(T0 + seconds(1)),
            toTimestamp=iso(T0 + seconds(2)),
        )
        assert ids(window) == [middle]
        assert sorted(
            ids(get(client, project, "/traces", fromTimestamp=iso(T0 + seconds(1))))
        ) == sorted([middle, late])
        assert ids(get(client, project, "/traces", toTimestamp=iso(T0 + seconds(1)))) == [early]


class TestTraceListOrderAndPages:
    def test_newest_come_first_unless_ordered_otherwise(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        first, second, third = new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                trace_event(second, name="b", timestamp=iso(T0 + seconds(1))),
                trace_event(first, name="c", timestamp=iso(T0)),
                trace_event(third, name="a", timestamp=iso(T0 + seconds(2))),
            ],
        )
        assert ids(get(client, project, "/traces")) == [third, second, first]
        assert ids(get(client, project, "/traces", orderBy="timestamp.asc")) == [
            first,
            second,
            third,
        ]
        assert ids(get(client, project, "/traces", orderBy="name.desc")) == [first, second, third]
        assert ids(get(client, project, "/traces", orderBy="name.asc")) == [third, second, first]

    def test_pages_cover_every_trace_once_and_meta_counts_them(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_ids = [new_id() for _ in range(5)]
        ingest(
            client,
            project,
            [trace_event(t, timestamp=iso(T0 + seconds(i))) for i, t in enumerate(trace_ids)],
        )
        pages = [get(client, project, "/traces", page=n, limit=2) for n in (1, 2, 3, 4)]
        assert [p["meta"] for p in pages] == [
            {"page": n, "limit": 2, "totalItems": 5, "totalPages": 3} for n in (1, 2, 3, 4)
        ]
        assert [len(p["data"]) for p in pages] == [2, 2, 1, 0]
        assert [i for p in pages for i in ids(p)] == list(reversed(trace_ids))

    def test_traces_without_a_name_sort_as_the_lowest_name_on_both_databases(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        named_a, nameless, named_c = new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [trace_event(named_a, name="a"), trace_event(nameless), trace_event(named_c, name="c")],
        )
        assert ids(get(client, project, "/traces", orderBy="name.asc")) == [
            nameless,
            named_a,
            named_c,
        ]
        assert ids(get(client, project, "/traces", orderBy="name.desc")) == [
            named_c,
            named_a,
            nameless,
        ]

    @pytest.mark.parametrize(
        "params", [{"limit": 101}, {"limit": 0}, {"page": 0}, {"limit": "many"}], ids=str
    )
    def test_a_limit_or_page_out_of_range_is_400_not_422(
        self, client: TestClient, project: ProjectKeys, params: dict[str, Any]
    ) -> None:
        assert_bad_request(client.get(f"{API}/traces", params=params, auth=project.auth))

    @pytest.mark.parametrize(
        "order", ["input.asc", "timestamp.sideways", "name.asc.desc", "totalCost.desc"]
    )
    def test_an_unknown_order_is_400(
        self, client: TestClient, project: ProjectKeys, order: str
    ) -> None:
        assert_bad_request(
            client.get(f"{API}/traces", params={"orderBy": order}, auth=project.auth)
        )

    def test_a_limit_of_100_is_allowed(self, client: TestClient, project: ProjectKeys) -> None:
        assert get(client, project, "/traces", limit=100)["meta"]["limit"] == 100


class TestTraceListFieldGroups:
    @pytest.fixture
    def trace_id(self, client: TestClient, project: ProjectKeys) -> str:
        trace_id = new_id()
        ingest(
            client,
            project,
            [
                trace_event(trace_id, name="full", input={"q": "in"}, output="out"),
                generation_event(
                    new_id(), trace_id, seconds=2.0, costDetails={"input": 0.5, "output": 0.25}
                ),
                score_event(new_id(), trace_id=trace_id),
            ],
        )
        return trace_id

    def test_by_default_every_group_is_filled(
        self, client: TestClient, project: ProjectKeys, trace_id: str
    ) -> None:
        (item,) = get(client, project, "/traces")["data"]
        assert (item["input"], item["output"]) == ({"q": "in"}, "out")
        assert len(item["observations"]) == 1 and isinstance(item["observations"][0], str)
        assert len(item["scores"]) == 1 and isinstance(item["scores"][0], str)
        assert item["latency"] == 2.0
        assert item["totalCost"] == 0.75
        assert item["htmlPath"] == f"/project/{project.id}/traces/{trace_id}"

    def test_core_alone_leaves_out_io_children_and_metrics(
        self, client: TestClient, project: ProjectKeys, trace_id: str
    ) -> None:
        (item,) = get(client, project, "/traces", fields="core")["data"]
        assert (item["id"], item["name"]) == (trace_id, "full")
        assert item.get("input") is None and item.get("output") is None
        assert item["observations"] == []
        assert item["scores"] == []
        assert item["latency"] == -1
        assert item["totalCost"] == -1

    def test_groups_can_be_picked_one_by_one(
        self, client: TestClient, project: ProjectKeys, trace_id: str
    ) -> None:
        (item,) = get(client, project, "/traces", fields="core,metrics,scores")["data"]
        assert item.get("input") is None
        assert item["observations"] == []
        assert len(item["scores"]) == 1
        assert (item["latency"], item["totalCost"]) == (2.0, 0.75)
        (with_io,) = get(client, project, "/traces", fields="io")["data"]
        assert with_io["input"] == {"q": "in"}
        assert with_io["latency"] == -1

    def test_an_unknown_group_is_400(
        self, client: TestClient, project: ProjectKeys, trace_id: str
    ) -> None:
        assert_bad_request(
            client.get(f"{API}/traces", params={"fields": "core,everything"}, auth=project.auth)
        )


class TestTraceById:
    def test_a_trace_comes_with_full_observations_scores_latency_and_cost(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, span_id, gen_id, score_id = new_id(), new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                trace_event(
                    trace_id, name="chat", userId="u", input="question", release="r1", version="v1"
                ),
                span_event(span_id, trace_id, name="retrieve", seconds=0.5),
                generation_event(
                    gen_id,
                    trace_id,
                    parentObservationId=span_id,
                    start=T0 + seconds(0.5),
                    seconds=2.0,
                    completionStartTime=iso(T0 + seconds(0.75)),
                    usageDetails={"input": 100, "output": 50},
                    costDetails={"input": 0.001, "output": 0.002},
                ),
                score_event(
                    score_id, trace_id=trace_id, name="accuracy", value=0.8, comment="good"
                ),
            ],
        )
        trace = get(client, project, f"/traces/{trace_id}")
        assert (trace["name"], trace["userId"], trace["input"]) == ("chat", "u", "question")
        assert (trace["release"], trace["version"], trace["projectId"]) == ("r1", "v1", project.id)
        assert trace["latency"] == 2.5
        assert trace["totalCost"] == pytest.approx(0.003)

        assert [o["id"] for o in trace["observations"]] == [span_id, gen_id]
        span, gen = trace["observations"]
        assert (span["type"], span["name"], span["latency"], span["timeToFirstToken"]) == (
            "SPAN",
            "retrieve",
            0.5,
            None,
        )
        assert gen["type"] == "GENERATION"
        assert gen["parentObservationId"] == span_id
        assert (gen["model"], gen["modelParameters"]) == ("gpt-4o-mini", {"temperature": 0.2})
        assert gen["input"] == [{"role": "user", "content": "hi"}]
        assert gen["output"] == {"role": "assistant", "content": "hello"}
        assert gen["usageDetails"] == {"input": 100, "output": 50, "total": 150}
        assert gen["usage"] == {"input": 100, "output": 50, "total": 150, "unit": "TOKENS"}
        assert (gen["promptTokens"], gen["completionTokens"], gen["totalTokens"]) == (100, 50, 150)
        assert gen["costDetails"] == {"input": 0.001, "output": 0.002}
        assert (gen["calculatedInputCost"], gen["calculatedOutputCost"]) == (0.001, 0.002)
        assert gen["calculatedTotalCost"] == pytest.approx(0.003)
        assert gen["latency"] == 2.0
        assert gen["timeToFirstToken"] == 0.25

        (score,) = trace["scores"]
        assert score["id"] == score_id
        assert (score["name"], score["value"], score["dataType"], score["comment"]) == (
            "accuracy",
            0.8,
            "NUMERIC",
            "good",
        )
        assert score["traceId"] == trace_id

    def test_an_unknown_trace_is_404_with_a_json_message(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        assert_not_found(client.get(f"{API}/traces/{new_id()}", auth=project.auth))

    def test_an_id_with_a_slash_is_one_id(self, client: TestClient, project: ProjectKeys) -> None:
        trace_id, obs_id = f"run/{new_id()}", f"step/{new_id()}"
        ingest(
            client, project, [trace_event(trace_id, name="slashed"), span_event(obs_id, trace_id)]
        )
        assert get(client, project, f"/traces/{trace_id}")["name"] == "slashed"
        assert get(client, project, f"/observations/{obs_id}")["traceId"] == trace_id


class TestTraceDeletion:
    def seed(self, client: TestClient, project: ProjectKeys) -> tuple[str, str, str]:
        trace_id, obs_id, score_id = new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                trace_event(trace_id),
                span_event(obs_id, trace_id),
                score_event(score_id, trace_id=trace_id, observationId=obs_id),
            ],
        )
        return trace_id, obs_id, score_id

    def assert_gone(
        self, client: TestClient, project: ProjectKeys, trace_id: str, obs_id: str, score_id: str
    ) -> None:
        for path in (f"/traces/{trace_id}", f"/observations/{obs_id}", f"/scores/{score_id}"):
            assert_not_found(client.get(f"{API}{path}", auth=project.auth))

    def test_deleting_one_trace_removes_its_observations_and_scores(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        doomed, kept = self.seed(client, project), self.seed(client, project)
        response = client.delete(f"{API}/traces/{doomed[0]}", auth=project.auth)
        assert response.status_code == 200
        assert response.json() == {"message": "Trace deleted successfully"}
        self.assert_gone(client, project, *doomed)
        assert len(get(client, project, f"/traces/{kept[0]}")["observations"]) == 1
        assert ids(get(client, project, "/traces")) == [kept[0]]
        assert ids(get(client, project, "/observations")) == [kept[1]]

    def test_deleting_many_traces_removes_their_observations_and_scores(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        first, second, kept = (self.seed(client, project) for _ in range(3))
        response = client.request(
            "DELETE",
            f"{API}/traces",
            json={"traceIds": [first[0], second[0], "unknown"]},
            auth=project.auth,
        )
        assert response.status_code == 200
        assert response.json() == {"message": "Traces deleted successfully"}
        self.assert_gone(client, project, *first)
        self.assert_gone(client, project, *second)
        assert ids(get(client, project, "/v3/scores")) == [kept[2]]

    def test_deleting_an_unknown_trace_is_404(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        assert_not_found(client.delete(f"{API}/traces/{new_id()}", auth=project.auth))

    @pytest.mark.parametrize("body", [{"traceIds": []}, {}, {"traceIds": "t1"}], ids=str)
    def test_a_bulk_delete_without_a_list_of_ids_is_400(
        self, client: TestClient, project: ProjectKeys, body: dict[str, Any]
    ) -> None:
        assert_bad_request(client.request("DELETE", f"{API}/traces", json=body, auth=project.auth))


class TestObservationList:
    @pytest.fixture
    def seeded(self, client: TestClient, project: ProjectKeys) -> dict[str, str]:
        t1, t2 = new_id(), new_id()
        names = {"span1": new_id(), "gen1": new_id(), "event1": new_id(), "gen2": new_id()}
        ingest(
            client,
            project,
            [
                span_event(names["span1"], t1, name="retrieve", start=T0),
                generation_event(names["gen1"], t1, name="answer", start=T0 + seconds(1)),
                span_event(
                    names["event1"], t1, type_="event-create", name="log", start=T0 + seconds(2)
                ),
                generation_event(names["gen2"], t2, name="answer", start=T0 + seconds(3)),
            ],
        )
        return {"t1": t1, "t2": t2, **names}

    def test_filters_by_type_trace_and_name(
        self, client: TestClient, project: ProjectKeys, seeded: dict[str, str]
    ) -> None:
        assert ids(get(client, project, "/observations", type="GENERATION")) == [
            seeded["gen2"],
            seeded["gen1"],
        ]
        assert ids(get(client, project, "/observations", type="EVENT")) == [seeded["event1"]]
        assert ids(get(client, project, "/observations", traceId=seeded["t2"])) == [seeded["gen2"]]
        assert ids(get(client, project, "/observations", name="answer", traceId=seeded["t1"])) == [
            seeded["gen1"]
        ]
        assert ids(get(client, project, "/observations", name="nothing")) == []

    def test_pages_and_meta(
        self, client: TestClient, project: ProjectKeys, seeded: dict[str, str]
    ) -> None:
        first = get(client, project, "/observations", limit=3)
        second = get(client, project, "/observations", limit=3, page=2)
        assert first["meta"] == {"page": 1, "limit": 3, "totalItems": 4, "totalPages": 2}
        assert second["meta"]["page"] == 2
        assert ids(first) + ids(second) == [
            seeded["gen2"],
            seeded["event1"],
            seeded["gen1"],
            seeded["span1"],
        ]

    def test_an_unknown_type_is_400(self, client: TestClient, project: ProjectKeys) -> None:
        assert_bad_request(
            client.get(f"{API}/observations", params={"type": "BANANA"}, auth=project.auth)
        )
        assert_bad_request(
            client.get(f"{API}/observations", params={"limit": 101}, auth=project.auth)
        )

    def test_one_observation_by_id_has_the_full_view(
        self, client: TestClient, project: ProjectKeys, seeded: dict[str, str]
    ) -> None:
        obs = get(client, project, f"/observations/{seeded['gen1']}")
        assert (obs["id"], obs["traceId"], obs["type"], obs["name"]) == (
            seeded["gen1"],
            seeded["t1"],
            "GENERATION",
            "answer",
        )
        assert obs["usage"] == {"input": 120, "output": 30, "total": 150, "unit": "TOKENS"}
        assert obs["latency"] == 1.0
        assert obs["projectId"] == project.id

    def test_an_unknown_observation_is_404(self, client: TestClient, project: ProjectKeys) -> None:
        assert_not_found(client.get(f"{API}/observations/{new_id()}", auth=project.auth))


CORE = {"id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type"}
BASIC = {
    "name",
    "level",
    "statusMessage",
    "version",
    "environment",
    "bookmarked",
    "public",
    "userId",
    "sessionId",
    "isRootObservation",
}


class TestObservationsV2Fields:
    def test_the_default_groups_are_core_and_basic(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, obs_id = new_id(), new_id()
        ingest(
            client,
            project,
            [
                trace_event(trace_id, userId="u", sessionId="s"),
                generation_event(obs_id, trace_id, name="gen", level="WARNING"),
            ],
        )
        (item,) = get(client, project, "/v2/observations")["data"]
        assert set(item) == CORE | BASIC
        assert (item["id"], item["traceId"], item["type"], item["name"]) == (
            obs_id,
            trace_id,
            "GENERATION",
            "gen",
        )
        assert (item["level"], item["userId"], item["sessionId"], item["isRootObservation"]) == (
            "WARNING",
            "u",
            "s",
            True,
        )
        assert get(client, project, "/v2/observations", fields="core")["data"][0].keys() == CORE

    def test_io_gives_a_string_as_is_and_anything_else_as_json_text(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, plain, structured = new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                span_event(plain, trace_id, input="just text", output='"quoted"', start=T0),
                span_event(
                    structured,
                    trace_id,
                    input=[{"role": "user", "content": "hi"}],
                    output={"answer": 42},
                    start=T0 + seconds(1),
                ),
            ],
        )
        by_id = {
            o["id"]: o for o in get(client, project, "/v2/observations", fields="core,io")["data"]
        }
        assert by_id[plain]["input"] == "just text"
        assert by_id[plain]["output"] == '"quoted"'
        assert isinstance(by_id[structured]["input"], str)
        assert json.loads(by_id[structured]["input"]) == [{"role": "user", "content": "hi"}]
        assert json.loads(by_id[structured]["output"]) == {"answer": 42}
        assert "name" not in by_id[plain]  # basic is not added when groups are named

    def test_usage_gives_usage_and_cost(self, client: TestClient, project: ProjectKeys) -> None:
        trace_id, gen_id = new_id(), new_id()
        ingest(
            client,
            project,
            [
                generation_event(
                    gen_id,
                    trace_id,
                    usageDetails={"input": 7, "output": 3},
                    costDetails={"input": 0.25, "output": 0.5},
                )
            ],
        )
        (item,) = get(client, project, "/v2/observations", fields="usage")["data"]
        assert item["usageDetails"] == {"input": 7, "output": 3, "total": 10}
        assert item["costDetails"] == {"input": 0.25, "output": 0.5}
        assert item["totalCost"] == 0.75
        assert "input" not in item

    def test_trace_context_gives_the_trace_name_tags_and_release(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id = new_id()
        ingest(
            client,
            project,
            [
                trace_event(trace_id, name="the trace", tags=["x", "y"], release="2.0"),
                span_event(new_id(), trace_id),
            ],
        )
        (item,) = get(client, project, "/v2/observations", fields="trace_context")["data"]
        assert (item["traceName"], item["tags"], item["release"]) == (
            "the trace",
            ["x", "y"],
            "2.0",
        )

    def test_metrics_give_latency_and_time_to_first_token(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        ingest(
            client,
            project,
            [
                generation_event(
                    new_id(), new_id(), seconds=3.0, completionStartTime=iso(T0 + seconds(0.5))
                )
            ],
        )
        (item,) = get(client, project, "/v2/observations", fields="metrics")["data"]
        assert (item["latency"], item["timeToFirstToken"]) == (3.0, 0.5)

    def test_an_unknown_group_is_400(self, client: TestClient, project: ProjectKeys) -> None:
        assert_bad_request(
            client.get(
                f"{API}/v2/observations", params={"fields": "core,secrets"}, auth=project.auth
            )
        )


class TestObservationsV2Cursor:
    def test_cursor_pages_return_every_observation_exactly_once(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id = new_id()
        # Three share a start time, so the cursor must break ties by id.
        starts = [T0, T0, T0, T0 + seconds(1), T0 + seconds(2), T0 + seconds(2), T0 + seconds(3)]
        obs_ids = [new_id() for _ in starts]
        ingest(
            client,
            project,
            [span_event(o, trace_id, start=s) for o, s in zip(obs_ids, starts, strict=True)],
        )
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = get(client, project, "/v2/observations", **params)
            seen += ids(page)
            pages += 1
            cursor = page["meta"].get("cursor")
            if not cursor:
                break
            assert pages < 10
        assert len(seen) == len(obs_ids)
        assert set(seen) == set(obs_ids)
        assert pages == 3
        starts_seen = [dict(zip(obs_ids, starts, strict=True))[o] for o in seen]
        assert starts_seen == sorted(starts_seen, reverse=True)

    def test_a_page_that_holds_everything_has_no_cursor(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        ingest(client, project, [span_event(new_id(), new_id()) for _ in range(3)])
        page = get(client, project, "/v2/observations", limit=3)
        assert len(page["data"]) == 3
        assert "cursor" not in page["meta"]

    @pytest.mark.parametrize(
        "cursor",
        [
            "not a cursor!",
            encode_cursor(b'{"start": 1}'),
            encode_cursor(b'["not a time", "id"]'),
            encode_cursor(b'[null, "id"]'),
            encode_cursor(b'["2026-11-01T12:00:00Z"]'),
            encode_cursor(b"\xff\xfe"),
        ],
        ids=["garbage", "object", "bad-time", "null-time", "too-short", "not-utf8"],
    )
    def test_a_cursor_this_server_did_not_issue_is_400(
        self, client: TestClient, project: ProjectKeys, cursor: str
    ) -> None:
        assert_bad_request(
            client.get(f"{API}/v2/observations", params={"cursor": cursor}, auth=project.auth)
        )

    def test_a_limit_over_1000_is_400(self, client: TestClient, project: ProjectKeys) -> None:
        assert_bad_request(
            client.get(f"{API}/v2/observations", params={"limit": 1001}, auth=project.auth)
        )
        assert get(client, project, "/v2/observations", limit=1000)["data"] == []


def post_scores(client: TestClient, project: ProjectKeys, body: Any) -> httpx.Response:
    return client.post(f"{API}/scores", json=body, auth=project.auth)


class TestScoresV3:
    def test_values_are_typed_by_data_type(self, client: TestClient, project: ProjectKeys) -> None:
        trace_id = new_id()
        numeric, yes, no, category = new_id(), new_id(), new_id(), new_id()
        assert (
            post_scores(
                client,
                project,
                [
                    {"id": numeric, "traceId": trace_id, "name": "n", "value": 0.5},
                    {
                        "id": yes,
                        "traceId": trace_id,
                        "name": "b",
                        "value": 1,
                        "dataType": "BOOLEAN",
                    },
                    {"id": no, "traceId": trace_id, "name": "b", "value": 0, "dataType": "BOOLEAN"},
                    {
                        "id": category,
                        "traceId": trace_id,
                        "name": "c",
                        "value": "good",
                        "dataType": "CATEGORICAL",
                    },
                ],
            ).status_code
            == 202
        )
        by_id = {s["id"]: s for s in get(client, project, "/v3/scores")["data"]}
        assert by_id[numeric]["value"] == 0.5 and by_id[numeric]["dataType"] == "NUMERIC"
        assert by_id[yes]["value"] is True and by_id[yes]["dataType"] == "BOOLEAN"
        assert by_id[no]["value"] is False
        assert by_id[category]["value"] == "good" and by_id[category]["dataType"] == "CATEGORICAL"

    def test_meta_names_the_limit(self, client: TestClient, project: ProjectKeys) -> None:
        assert get(client, project, "/v3/scores")["meta"] == {"limit": 50}
        assert get(client, project, "/v3/scores", limit=7)["meta"] == {"limit": 7}

    def test_cursor_pages_return_every_score_exactly_once(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        # Posted together, the scores share one timestamp: the cursor must break ties by id.
        score_ids = [new_id() for _ in range(5)]
        assert (
            post_scores(
                client, project, [{"id": s, "name": "q", "value": 1} for s in score_ids]
            ).status_code
            == 202
        )
        first = get(client, project, "/v3/scores", limit=2)
        second = get(client, project, "/v3/scores", limit=2, cursor=first["meta"]["cursor"])
        third = get(client, project, "/v3/scores", limit=2, cursor=second["meta"]["cursor"])
        assert "cursor" not in third["meta"]
        seen = ids(first) + ids(second) + ids(third)
        assert sorted(seen) == sorted(score_ids)
        assert len(seen) == 5

    def test_the_subject_group_says_what_was_scored(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, obs_id = new_id(), new_id()
        on_trace, on_obs, on_session = new_id(), new_id(), new_id()
        assert (
            post_scores(
                client,
                project,
                [
                    {"id": on_trace, "traceId": trace_id, "name": "q", "value": 1},
                    {
                        "id": on_obs,
                        "traceId": trace_id,
                        "observationId": obs_id,
                        "name": "q",
                        "value": 1,
                    },
                    {"id": on_session, "sessionId": "sess-1", "name": "q", "value": 1},
                ],
            ).status_code
            == 202
        )
        subjects = {
            s["id"]: s["subject"]
            for s in get(client, project, "/v3/scores", fields="subject")["data"]
        }
        assert subjects[on_trace] == {"kind": "trace", "id": trace_id}
        assert subjects[on_obs] == {"kind": "observation", "id": obs_id, "traceId": trace_id}
        assert subjects[on_session] == {"kind": "session", "id": "sess-1"}
        assert "subject" not in get(client, project, "/v3/scores")["data"][0]

    def test_filters_narrow_the_list(self, client: TestClient, project: ProjectKeys) -> None:
        trace_id, obs_id = new_id(), new_id()
        a, b, c = new_id(), new_id(), new_id()
        assert (
            post_scores(
                client,
                project,
                [
                    {"id": a, "traceId": trace_id, "name": "accuracy", "value": 1},
                    {
                        "id": b,
                        "traceId": trace_id,
                        "observationId": obs_id,
                        "name": "tone",
                        "value": "ok",
                    },
                    {"id": c, "name": "accuracy", "value": 0, "dataType": "BOOLEAN"},
                ],
            ).status_code
            == 202
        )
        assert sorted(ids(get(client, project, "/v3/scores", name="accuracy"))) == sorted([a, c])
        assert ids(get(client, project, "/v3/scores", dataType="BOOLEAN")) == [c]
        assert ids(get(client, project, "/v3/scores", traceId=trace_id, observationId=obs_id)) == [
            b
        ]
        assert sorted(ids(get(client, project, "/v3/scores", id=f"{a},{c}"))) == sorted([a, c])

    def test_an_observation_filter_needs_a_trace_filter(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        assert_bad_request(
            client.get(f"{API}/v3/scores", params={"observationId": "o1"}, auth=project.auth)
        )

    @pytest.mark.parametrize(
        "params",
        [
            {"traceId": "t", "sessionId": "s"},
            {"fields": "subject,everything"},
            {"limit": 101},
            {"cursor": "not a cursor!"},
            {"cursor": encode_cursor(b'["yesterday", "id"]')},
        ],
        ids=str,
    )
    def test_bad_parameters_are_400(
        self, client: TestClient, project: ProjectKeys, params: dict[str, Any]
    ) -> None:
        assert_bad_request(client.get(f"{API}/v3/scores", params=params, auth=project.auth))


class TestScoreById:
    def test_a_score_reads_back_in_the_v1_shape(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, obs_id, score_id = new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                score_event(
                    score_id,
                    trace_id=trace_id,
                    observationId=obs_id,
                    name="tone",
                    value="friendly",
                    dataType="CATEGORICAL",
                    comment="nice",
                    metadata={"by": "judge"},
                    environment="staging",
                )
            ],
        )
        score = get(client, project, f"/scores/{score_id}")
        assert (score["id"], score["projectId"], score["traceId"], score["observationId"]) == (
            score_id,
            project.id,
            trace_id,
            obs_id,
        )
        assert (score["name"], score["stringValue"], score["dataType"]) == (
            "tone",
            "friendly",
            "CATEGORICAL",
        )
        assert (score["source"], score["comment"], score["metadata"], score["environment"]) == (
            "API",
            "nice",
            {"by": "judge"},
            "staging",
        )

    def test_an_unknown_score_is_404(self, client: TestClient, project: ProjectKeys) -> None:
        assert_not_found(client.get(f"{API}/scores/{new_id()}", auth=project.auth))

    def test_a_score_id_with_a_slash_can_be_read_and_deleted(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        score_id = f"eval/{new_id()}"
        assert post_scores(client, project, {"id": score_id, "name": "q", "value": 1}).json() == {
            "id": score_id
        }
        assert get(client, project, f"/scores/{score_id}")["id"] == score_id
        assert client.delete(f"{API}/scores/{score_id}", auth=project.auth).status_code == 202

    def test_deleting_a_score_answers_202_and_then_it_is_gone(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        score_id, kept = new_id(), new_id()
        ingest(client, project, [score_event(score_id), score_event(kept)])
        response = client.delete(f"{API}/scores/{score_id}", auth=project.auth)
        assert response.status_code == 202
        assert response.json()["message"]
        assert_not_found(client.get(f"{API}/scores/{score_id}", auth=project.auth))
        assert_not_found(client.delete(f"{API}/scores/{score_id}", auth=project.auth))
        assert ids(get(client, project, "/v3/scores")) == [kept]


class TestScoreCreation:
    def test_one_score_answers_200_with_its_id(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        score_id, trace_id = new_id(), new_id()
        response = post_scores(
            client, project, {"id": score_id, "traceId": trace_id, "name": "q", "value": 0.3}
        )
        assert response.status_code == 200
        assert response.json() == {"id": score_id}
        assert get(client, project, f"/scores/{score_id}")["value"] == 0.3

    def test_a_score_without_an_id_gets_one(self, client: TestClient, project: ProjectKeys) -> None:
        response = post_scores(client, project, {"name": "q", "value": 1})
        assert response.status_code == 200
        score_id = response.json()["id"]
        assert score_id
        assert get(client, project, f"/scores/{score_id}")["name"] == "q"

    def test_posting_the_same_id_again_updates_the_score(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        score_id = new_id()
        post_scores(client, project, {"id": score_id, "name": "q", "value": 0.1})
        post_scores(
            client, project, {"id": score_id, "name": "q", "value": 0.9, "comment": "revised"}
        )
        score = get(client, project, f"/scores/{score_id}")
        assert (score["value"], score["comment"]) == (0.9, "revised")
        assert ids(get(client, project, "/v3/scores")) == [score_id]

    def test_an_array_of_valid_scores_answers_202(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        score_ids = [new_id(), new_id()]
        response = post_scores(
            client, project, [{"id": s, "name": "q", "value": 1} for s in score_ids]
        )
        assert response.status_code == 202
        assert response.json() == {"message": "Accepted"}
        assert sorted(ids(get(client, project, "/v3/scores"))) == sorted(score_ids)

    def test_an_array_with_an_invalid_score_answers_207_and_keeps_the_valid_ones(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        good = new_id()
        response = post_scores(
            client,
            project,
            [
                {"id": good, "name": "q", "value": 1},
                {"id": new_id(), "name": "q", "value": "yes", "dataType": "NUMERIC"},
                {"id": new_id(), "value": 1},
            ],
        )
        assert response.status_code == 207
        body = response.json()
        assert (body["accepted"], body["rejected"]) == (1, 2)
        assert len(body["errors"]) == 2
        assert all(isinstance(e["message"], str) and e["message"] for e in body["errors"])
        assert ids(get(client, project, "/v3/scores")) == [good]

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "q", "value": "not a number", "dataType": "NUMERIC"},
            {"name": "q", "value": 2, "dataType": "BOOLEAN"},
            {"name": "q", "value": 1, "observationId": "o"},
            {"value": 1},
            "just a string",
        ],
        ids=str,
    )
    def test_one_invalid_score_is_400(
        self, client: TestClient, project: ProjectKeys, body: Any
    ) -> None:
        assert_bad_request(post_scores(client, project, body))
        assert get(client, project, "/v3/scores")["data"] == []


class TestSessions:
    def test_sessions_are_listed_newest_first_with_their_first_trace_time(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        ingest(
            client,
            project,
            [
                trace_event(new_id(), sessionId="old", timestamp=iso(T0)),
                trace_event(new_id(), sessionId="old", timestamp=iso(T0 + seconds(10))),
                trace_event(
                    new_id(), sessionId="new", timestamp=iso(T0 + seconds(5)), environment="staging"
                ),
                trace_event(new_id(), timestamp=iso(T0 + seconds(20))),  # no session
            ],
        )
        listing = get(client, project, "/sessions")
        assert ids(listing) == ["new", "old"]
        assert listing["meta"] == {"page": 1, "limit": 50, "totalItems": 2, "totalPages": 1}
        new, old = listing["data"]
        assert new["createdAt"].startswith(iso(T0 + seconds(5))[:19])
        assert old["createdAt"].startswith(iso(T0)[:19])
        assert (new["projectId"], new["environment"]) == (project.id, "staging")
        assert ids(get(client, project, "/sessions", environment="staging")) == ["new"]

    def test_a_session_lists_its_traces_in_time_order(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        session_id = f"s-{new_id()}"
        first, second, third = new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                trace_event(
                    third, sessionId=session_id, timestamp=iso(T0 + seconds(2)), name="third"
                ),
                trace_event(first, sessionId=session_id, timestamp=iso(T0), name="first"),
                trace_event(
                    second, sessionId=session_id, timestamp=iso(T0 + seconds(1)), name="second"
                ),
                trace_event(new_id(), sessionId="another session"),
                span_event(new_id(), first, seconds=1.5, costDetails={"total": 0.5}),
            ],
        )
        session = get(client, project, f"/sessions/{session_id}")
        assert session["id"] == session_id
        assert session["projectId"] == project.id
        assert session["createdAt"].startswith(iso(T0)[:19])
        assert [t["id"] for t in session["traces"]] == [first, second, third]
        assert [t["name"] for t in session["traces"]] == ["first", "second", "third"]
        assert (session["traces"][0]["latency"], session["traces"][0]["totalCost"]) == (1.5, 0.5)

    def test_an_unknown_session_is_404(self, client: TestClient, project: ProjectKeys) -> None:
        assert_not_found(client.get(f"{API}/sessions/{new_id()}", auth=project.auth))


class TestProjectsAndHealth:
    def test_projects_answers_the_shape_the_sdk_auth_check_expects(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        body = get(client, project, "/projects")
        assert list(body) == ["data"]
        (item,) = body["data"]
        assert set(item) == {"id", "name", "organization", "metadata"}
        assert (item["id"], item["name"], item["metadata"]) == (project.id, project.name, {})
        assert set(item["organization"]) == {"id", "name"}
        assert all(isinstance(v, str) and v for v in item["organization"].values())

    def test_health_answers_ok_with_the_version(self, client: TestClient) -> None:
        response = client.get(f"{API}/health")
        assert response.status_code == 200
        assert response.json() == {"status": "OK", "version": server.__version__}
        checked = client.get(f"{API}/health", params={"failIfDatabaseUnavailable": "true"})
        assert checked.json() == {"status": "OK", "version": server.__version__}

    def test_a_wrong_method_is_a_json_405(self, client: TestClient, project: ProjectKeys) -> None:
        response = client.put(f"{API}/traces", json={}, auth=project.auth)
        assert response.status_code == 405
        assert response.json() == {
            "message": "Method not allowed",
            "error": "MethodNotAllowedError",
        }

    def test_an_unknown_public_route_is_a_json_404(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        response = client.get(f"{API}/no-such-route", auth=project.auth)
        assert response.status_code == 404
        assert response.json() == {"message": "Not found"}


class TestLegacyEventShapes:
    def test_an_observation_update_changes_what_the_read_routes_show(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, gen_id = new_id(), new_id()
        ingest(client, project, [generation_event(gen_id, trace_id)])
        ingest(
            client,
            project,
            [
                event(
                    "generation-update",
                    {
                        "id": gen_id,
                        "traceId": trace_id,
                        "output": "final",
                        "level": "ERROR",
                        "statusMessage": "boom",
                    },
                    at=T0 + seconds(5),
                )
            ],
        )
        obs = get(client, project, f"/observations/{gen_id}")
        assert (obs["output"], obs["level"], obs["statusMessage"]) == ("final", "ERROR", "boom")
        assert ids(get(client, project, "/observations", level="ERROR")) == [gen_id]
        v2 = get(client, project, "/v2/observations", fields="core,basic,io")["data"][0]
        assert (v2["output"], v2["level"]) == ("final", "ERROR")


class TestScoreValueFilters:
    def test_value_range_and_exact_value_filters_narrow_the_scores(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id = new_id()
        low, high, label = new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                score_event(low, trace_id=trace_id, name="acc", value=0.2),
                score_event(high, trace_id=trace_id, name="acc", value=0.9, queueId="q1"),
                score_event(
                    label, trace_id=trace_id, name="tone", value="warm", dataType="CATEGORICAL"
                ),
            ],
        )

        def ids(**params: object) -> set[str]:
            response = client.get(f"{API}/v3/scores", params=params, auth=project.auth)
            assert response.status_code == 200, response.text
            return {s["id"] for s in response.json()["data"]}

        assert ids(valueMin=0.5) == {high}
        assert ids(valueMax=0.5) == {low}
        assert ids(value="warm") == {label}
        assert ids(value="0.2") == {low}
        assert ids(queueId="q1") == {high}
        assert ids(traceId=trace_id) == {low, high, label}
