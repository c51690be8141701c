from __future__ import annotations

import gzip
from datetime import timedelta

from fastapi.testclient import TestClient

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

URL = "/api/public/ingestion"


def ingest(client: TestClient, project: ProjectKeys, events: list[dict]) -> dict:
    response = client.post(URL, json={"batch": events}, auth=project.auth)
    assert response.status_code == 207, response.text
    return response.json()


def get_trace(client: TestClient, project: ProjectKeys, trace_id: str) -> dict:
    response = client.get(f"/api/public/traces/{trace_id}", auth=project.auth)
    assert response.status_code == 200, response.text
    return response.json()


class TestMixedBatch:
    def test_valid_events_are_stored_and_invalid_ones_reported_one_by_one(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, root, child, gen = new_id(), new_id(), new_id(), new_id()
        events = [
            trace_event(
                trace_id,
                name="chat",
                userId="u1",
                sessionId="s1",
                tags=["b", "a"],
                input={"q": "hi"},
            ),
            span_event(root, trace_id, name="root"),
            span_event(
                child,
                trace_id,
                name="child",
                parentObservationId=root,
                start=T0 + timedelta(milliseconds=100),
            ),
            generation_event(
                gen, trace_id, parentObservationId=child, usageDetails={"input": 10, "output": 5}
            ),
            event("span-create", {"id": new_id(), "traceId": trace_id, "level": "LOUD"}),
            event("nonsense-create", {"id": new_id()}),
            {"id": "no-timestamp", "type": "trace-create", "body": {"id": new_id()}},
            "not even an object",
        ]
        result = ingest(client, project, events)

        assert [s["id"] for s in result["successes"]] == [e["id"] for e in events[:4]]
        assert all(s["status"] == 201 for s in result["successes"])
        assert [e["id"] for e in result["errors"]] == [
            events[4]["id"],
            events[5]["id"],
            "no-timestamp",
            "unknown",
        ]
        assert all(
            e["status"] == 400 and e["message"] == "Invalid request data" for e in result["errors"]
        )

        trace = get_trace(client, project, trace_id)
        assert (trace["name"], trace["userId"], trace["sessionId"]) == ("chat", "u1", "s1")
        assert trace["tags"] == ["a", "b"]
        assert trace["input"] == {"q": "hi"}
        by_id = {o["id"]: o for o in trace["observations"]}
        assert set(by_id) == {root, child, gen}
        assert by_id[root]["parentObservationId"] is None
        assert by_id[child]["parentObservationId"] == root
        assert by_id[gen]["parentObservationId"] == child
        assert by_id[gen]["type"] == "GENERATION"
        assert by_id[gen]["model"] == "gpt-4o-mini"
        assert by_id[gen]["usageDetails"] == {"input": 10, "output": 5, "total": 15}
        assert by_id[gen]["usage"] == {"input": 10, "output": 5, "total": 15, "unit": "TOKENS"}
        assert trace["latency"] == 1.1  # root starts at T0, child ends at T0 + 1.1 s

    def test_resending_the_same_batch_stores_everything_once(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id = new_id()
        events = [
            trace_event(trace_id, name="t", tags=["x"]),
            span_event(new_id(), trace_id),
            score_event(new_id(), trace_id=trace_id),
        ]
        ingest(client, project, events)
        again = ingest(client, project, events)
        assert len(again["successes"]) == 3

        trace = get_trace(client, project, trace_id)
        assert len(trace["observations"]) == 1
        assert len(trace["scores"]) == 1
        assert trace["tags"] == ["x"]
        listed = client.get("/api/public/traces", auth=project.auth).json()
        assert listed["meta"]["totalItems"] == 1


class TestEventTypes:
    def test_every_observation_type_is_stored_with_its_type(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id = new_id()
        kinds = [
            "span",
            "generation",
            "event",
            "agent",
            "tool",
            "chain",
            "retriever",
            "evaluator",
            "embedding",
            "guardrail",
        ]
        ids = {kind: new_id() for kind in kinds}
        events = [
            span_event(ids[kind], trace_id, type_=f"{kind}-create", name=kind) for kind in kinds
        ]
        legacy_id = new_id()
        events.append(
            event(
                "observation-create",
                {"id": legacy_id, "traceId": trace_id, "type": "GENERATION", "model": "m"},
            )
        )
        log_event = event("sdk-log", {"log": {"msg": "hello"}})
        events.append(log_event)
        result = ingest(client, project, events)

        assert len(result["successes"]) == len(kinds) + 1
        assert log_event["id"] not in {s["id"] for s in result["successes"]} | {
            e["id"] for e in result["errors"]
        }
        stored = {o["id"]: o["type"] for o in get_trace(client, project, trace_id)["observations"]}
        assert stored == {**{ids[k]: k.upper() for k in kinds}, legacy_id: "GENERATION"}

    def test_legacy_usage_and_openai_usage_are_normalised(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, legacy, chat, responses = new_id(), new_id(), new_id(), new_id()
        ingest(
            client,
            project,
            [
                generation_event(
                    legacy,
                    trace_id,
                    usageDetails=None,
                    usage={"promptTokens": 7, "completionTokens": 3, "totalTokens": 10},
                ),
                generation_event(
                    chat,
                    trace_id,
                    usageDetails={
                        "prompt_tokens": 100,
                        "completion_tokens": 40,
                        "total_tokens": 140,
                        "prompt_tokens_details": {"cached_tokens": 30},
                        "completion_tokens_details": {"reasoning_tokens": 10},
                    },
                    costDetails={"input": 0.001, "output": 0.002},
                ),
                generation_event(
                    responses,
                    trace_id,
                    usageDetails={
                        "input_tokens": 50,
                        "output_tokens": 20,
                        "total_tokens": 70,
                        "input_tokens_details": {"cached_tokens": 50},
                    },
                ),
            ],
        )
        obs = {o["id"]: o for o in get_trace(client, project, trace_id)["observations"]}
        assert obs[legacy]["usageDetails"] == {"input": 7, "output": 3, "total": 10}
        assert obs[chat]["usageDetails"] == {
            "input": 70,
            "input_cached_tokens": 30,
            "output": 30,
            "output_reasoning_tokens": 10,
            "total": 140,
        }
        assert obs[chat]["costDetails"] == {"input": 0.001, "output": 0.002}
        assert obs[chat]["calculatedTotalCost"] == 0.003
        assert obs[responses]["usageDetails"] == {
            "input": 0,
            "input_cached_tokens": 50,
            "output": 20,
            "total": 70,
        }
        trace = get_trace(client, project, trace_id)
        # The client's cost for `chat`, plus gpt-4o-mini's built-in prices (USD per million
        # tokens: input 0.15, cached input 0.075, output 0.60) for the two sent without cost.
        computed = (7 * 0.15 + 3 * 0.6 + 50 * 0.075 + 20 * 0.6) / 1e6
        assert abs(trace["totalCost"] - (0.003 + computed)) < 1e-12

    def test_a_trace_without_an_id_is_kept_under_its_event_id(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        evt = event("trace-create", {"name": "anonymous"})
        ingest(client, project, [evt])
        assert get_trace(client, project, evt["id"])["name"] == "anonymous"


class TestMerge:
    def test_updates_merge_field_by_field(self, client: TestClient, project: ProjectKeys) -> None:
        trace_id, obs_id = new_id(), new_id()
        later = T0 + timedelta(seconds=5)
        ingest(
            client,
            project,
            [
                trace_event(
                    trace_id,
                    name="first",
                    userId="u1",
                    metadata={"a": {"x": 1}, "keep": True},
                    tags=["one"],
                ),
                span_event(obs_id, trace_id, name="work", metadata={"step": 1}),
            ],
        )
        ingest(
            client,
            project,
            [
                trace_event(
                    trace_id,
                    at=later,
                    timestamp=iso(later),
                    output="done",
                    metadata={"a": {"y": 2}},
                    tags=["two"],
                ),
                event(
                    "span-update",
                    {
                        "id": obs_id,
                        "traceId": trace_id,
                        "startTime": iso(later),
                        "output": {"ok": True},
                        "level": "WARNING",
                        "metadata": {"extra": "x"},
                    },
                    at=later,
                ),
            ],
        )
        trace = get_trace(client, project, trace_id)
        assert trace["name"] == "first"  # the update did not set a name
        assert trace["userId"] == "u1"
        assert trace["output"] == "done"
        assert trace["metadata"] == {"a": {"x": 1, "y": 2}, "keep": True}
        assert trace["tags"] == ["one", "two"]
        assert trace["timestamp"].startswith(iso(T0)[:19])  # immutable after the first write
        (obs,) = trace["observations"]
        assert obs["name"] == "work"
        assert obs["level"] == "WARNING"
        assert obs["output"] == {"ok": True}
        assert obs["metadata"] == {"step": 1, "extra": "x"}
        assert obs["startTime"].startswith(iso(T0)[:19])  # start time is immutable too

    def test_an_update_that_arrives_before_its_create_is_not_overwritten(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, obs_id = new_id(), new_id()
        later = T0 + timedelta(seconds=3)
        ingest(
            client,
            project,
            [
                event(
                    "span-update",
                    {"id": obs_id, "traceId": trace_id, "output": "final", "name": "renamed"},
                    at=later,
                )
            ],
        )
        ingest(
            client,
            project,
            [
                span_event(
                    obs_id, trace_id, name="original", output="draft", input="question", at=T0
                )
            ],
        )
        (obs,) = get_trace(client, project, trace_id)["observations"]
        assert obs["output"] == "final"
        assert obs["name"] == "renamed"
        assert obs["input"] == "question"  # the older create still fills what the update left empty
        assert obs["startTime"].startswith(iso(T0)[:19])

    def test_an_observation_before_its_trace_makes_the_trace_readable_at_once(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, obs_id = new_id(), new_id()
        ingest(client, project, [span_event(obs_id, trace_id, environment="staging")])
        early = get_trace(client, project, trace_id)
        assert [o["id"] for o in early["observations"]] == [obs_id]
        assert early["environment"] == "staging"
        ingest(
            client,
            project,
            [trace_event(trace_id, name="late trace", timestamp=iso(T0 - timedelta(seconds=1)))],
        )
        late = get_trace(client, project, trace_id)
        assert late["name"] == "late trace"
        assert late["timestamp"].startswith(iso(T0 - timedelta(seconds=1))[:19])

    def test_end_before_start_is_clamped(self, client: TestClient, project: ProjectKeys) -> None:
        trace_id, obs_id = new_id(), new_id()
        ingest(client, project, [span_event(obs_id, trace_id, seconds=-5)])
        (obs,) = get_trace(client, project, trace_id)["observations"]
        assert obs["endTime"] == obs["startTime"]


class TestHostileInput:
    def test_nul_bytes_and_markup_round_trip_unchanged(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id = new_id()
        hostile = (
            "a\x00b \ue000 <script>alert(1)</script> '; DROP TABLE traces; -- \u202e żółć 日本"
        )
        ingest(
            client,
            project,
            [
                trace_event(
                    trace_id,
                    name=hostile,
                    userId=hostile,
                    input={hostile: [hostile]},
                    metadata={"k\x00": hostile},
                    tags=[hostile],
                ),
                span_event(new_id(), trace_id, name=hostile, output=hostile),
            ],
        )
        trace = get_trace(client, project, trace_id)
        assert trace["name"] == hostile
        assert trace["userId"] == hostile
        assert trace["input"] == {hostile: [hostile]}
        assert trace["metadata"] == {"k\x00": hostile}
        assert trace["tags"] == [hostile]
        assert trace["observations"][0]["output"] == hostile
        by_user = client.get(
            "/api/public/traces", params={"userId": hostile}, auth=project.auth
        ).json()
        assert [t["id"] for t in by_user["data"]] == [trace_id]
        v2 = client.get(
            "/api/public/v2/observations",
            params={"traceId": trace_id, "fields": "core,basic,io"},
            auth=project.auth,
        ).json()
        assert v2["data"][0]["output"] == hostile

    def test_lone_surrogates_are_replaced_not_rejected(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id = new_id()
        body = (
            '{"batch":[{"id":"e1","type":"trace-create","timestamp":"2026-11-01T12:00:00Z",'
            '"body":{"id":"%s","name":"bad \\ud800 surrogate"}}]}' % trace_id
        )
        response = client.post(
            URL, content=body, headers={"content-type": "application/json"}, auth=project.auth
        )
        assert response.status_code == 207
        assert get_trace(client, project, trace_id)["name"] == "bad \ufffd surrogate"


class TestRequestLevel:
    def test_a_body_over_the_limit_gets_413_with_a_message(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        huge = "x" * (1024 * 1024 + 1)
        response = client.post(
            URL, json={"batch": [trace_event(new_id(), name=huge)]}, auth=project.auth
        )
        assert response.status_code == 413
        assert "larger than" in response.json()["message"]

    def test_a_gzip_bomb_is_refused_after_decompression(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        payload = b'{"batch":[' + b" " * (4 * 1024 * 1024) + b"]}"
        response = client.post(
            URL,
            content=gzip.compress(payload),
            auth=project.auth,
            headers={"content-encoding": "gzip", "content-type": "application/json"},
        )
        assert response.status_code == 413

    def test_gzip_bodies_are_accepted(self, client: TestClient, project: ProjectKeys) -> None:
        import orjson

        trace_id = new_id()
        payload = orjson.dumps({"batch": [trace_event(trace_id, name="zipped")]})
        response = client.post(
            URL,
            content=gzip.compress(payload),
            auth=project.auth,
            headers={"content-encoding": "gzip", "content-type": "application/json"},
        )
        assert response.status_code == 207
        assert get_trace(client, project, trace_id)["name"] == "zipped"

    def test_a_body_without_a_batch_array_is_a_400(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        for body in ('{"batch": {}}', "[]", "not json"):
            response = client.post(
                URL, content=body, headers={"content-type": "application/json"}, auth=project.auth
            )
            assert response.status_code == 400, body
            assert response.json()["message"] == "Invalid request data"

    def test_a_public_key_alone_may_send_scores_but_not_traces(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace_id, score_id = new_id(), new_id()
        headers = {"Authorization": f"Bearer {project.public_key}"}
        events = [trace_event(trace_id), score_event(score_id, trace_id=trace_id)]
        result = client.post(URL, json={"batch": events}, headers=headers).json()
        assert [s["id"] for s in result["successes"]] == [events[1]["id"]]
        assert result["errors"][0]["status"] == 401
        assert client.get(f"/api/public/scores/{score_id}", auth=project.auth).status_code == 200
        assert client.get(f"/api/public/traces/{trace_id}", auth=project.auth).status_code == 404
