"""Who may call which /api/public route, and that no project sees or changes another's data.

The route table below names every public route. The first test checks it against the app, so a
new route cannot go untested for auth.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from server.projects.queries import revoke_key
from tests.conftest import ProjectKeys, make_project
from tests.factories import generation_event, new_id, score_event, trace_event

NO_HEADER = "No authorization header"
BAD_HEADER = "Invalid authorization header"
BAD_CREDENTIALS = "Invalid credentials. Confirm that you've configured the correct host."
INSUFFICIENT = "Access denied - insufficient permissions for this endpoint"


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    body: Any = None
    # Langfuse lets a Bearer public key (no secret) through here: scores only.
    public_key_alone: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.template}"

    def url(self, ids: dict[str, str] | None = None) -> str:
        ids = ids or {}
        return re.sub(r"\{(\w+)\}", lambda m: ids.get(m[1], "no-such-id"), self.template)


ROUTES = [
    Route("POST", "/api/public/ingestion", {"batch": []}, public_key_alone=True),
    Route("POST", "/api/public/scores", {"name": "quality", "value": 1.0}, public_key_alone=True),
    Route("GET", "/api/public/projects"),
    Route("GET", "/api/public/traces"),
    Route("DELETE", "/api/public/traces", {"traceIds": ["no-such-id"]}),
    Route("GET", "/api/public/traces/{trace_id}"),
    Route("DELETE", "/api/public/traces/{trace_id}"),
    Route("GET", "/api/public/observations"),
    Route("GET", "/api/public/observations/{observation_id}"),
    Route("GET", "/api/public/v2/observations"),
    Route("GET", "/api/public/v3/scores"),
    Route("GET", "/api/public/scores/{score_id}"),
    Route("DELETE", "/api/public/scores/{score_id}"),
    Route("GET", "/api/public/sessions"),
    Route("GET", "/api/public/sessions/{session_id}"),
    Route("POST", "/api/public/otel/v1/traces", {}),
    Route("POST", "/v1/traces", {}),
    Route("POST", "/api/public/otel/v1/logs", {}),
    Route("POST", "/v1/logs", {}),
    Route(
        "POST",
        "/api/public/media",
        {
            "contentType": "image/png",
            "contentLength": 3,
            "sha256Hash": "A" * 43 + "=",
            "field": "input",
        },
    ),
    Route(
        "PATCH",
        "/api/public/media/{media_id}",
        {"uploadedAt": "2026-11-28T10:00:00Z", "uploadHttpStatus": 200},
    ),
    Route("GET", "/api/public/media/{media_id}"),
    Route("POST", "/api/public/v2/prompts", {"name": "p", "prompt": "hi"}),
    Route("GET", "/api/public/v2/prompts"),
    Route("GET", "/api/public/v2/prompts/{name}"),
    Route("PATCH", "/api/public/v2/prompts/{name}/versions/{version}", {"newLabels": ["x"]}),
    Route(
        "POST",
        "/api/public/models",
        {"modelName": "m", "matchPattern": "^m$", "inputPrice": 0.000001},
    ),
    Route("GET", "/api/public/models"),
    Route("GET", "/api/public/models/{model_id}"),
    Route("DELETE", "/api/public/models/{model_id}"),
]
WITHOUT_AUTH = [Route("GET", "/api/public/health"), Route("GET", "/api/public/ready")]
# Called by SDKs without a key: the URL the server issued carries a token instead.
WITH_URL_TOKEN = [
    Route("PUT", "/api/public/media/{media_id}/upload"),
    Route("GET", "/api/public/media/{media_id}/content"),
]
NEEDS_SECRET = [r for r in ROUTES if not r.public_key_alone]
DELETES = [r for r in ROUTES if r.method == "DELETE"]

MALFORMED = {
    "garbage base64": "Basic !!!",
    "unknown scheme": "Token x",
    "no colon": "Basic " + base64.b64encode(b"pk-lf-only").decode(),
    "empty public key": "Basic " + base64.b64encode(b":sk-lf-secret").decode(),
    "empty secret": "Basic " + base64.b64encode(b"pk-lf-public:").decode(),
    "empty bearer": "Bearer ",
}


def basic(public_key: str, secret_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(public_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {public_key}"}


def send(
    client: TestClient, route: Route, headers: dict[str, str], ids: dict[str, str] | None = None
) -> httpx.Response:
    return client.request(route.method, route.url(ids), json=route.body, headers=headers)


def assert_unauthorized(response: httpx.Response, route: Route, message: str) -> None:
    assert response.status_code == 401, response.text
    expected: dict[str, Any] = {"message": message}
    if route.template == "/api/public/ingestion" or route.template.startswith(
        "/api/public/v2/prompts"
    ):
        expected["error"] = "UnauthorizedError"
    assert response.json() == expected


def ingest(client: TestClient, project: ProjectKeys, events: list[dict[str, Any]]) -> None:
    response = client.post("/api/public/ingestion", json={"batch": events}, auth=project.auth)
    assert response.status_code == 207, response.text
    assert response.json()["errors"] == []


@pytest.fixture(scope="module")
def shared_project(engine: Engine) -> ProjectKeys:
    """One project for the tests that only need a real public key and never write."""
    return make_project(engine)


class TestRouteTable:
    def test_the_table_names_every_public_route_of_the_app(self, client: TestClient) -> None:
        schema = client.app.openapi()  # type: ignore[attr-defined]
        served = {
            (method.upper(), path)
            for path, operations in schema["paths"].items()
            if path.startswith(("/api/public", "/v1/"))
            for method in operations
        }
        assert served == {(r.method, r.template) for r in ROUTES + WITHOUT_AUTH + WITH_URL_TOKEN}


class TestRoutesWithoutAuth:
    @pytest.mark.parametrize("route", WITHOUT_AUTH, ids=str)
    def test_health_and_ready_answer_without_a_header(
        self, client: TestClient, route: Route
    ) -> None:
        response = send(client, route, {})
        assert response.status_code == 200
        assert response.json()["status"] == "OK"

    @pytest.mark.parametrize("route", WITHOUT_AUTH, ids=str)
    def test_health_and_ready_ignore_a_bad_header(self, client: TestClient, route: Route) -> None:
        response = send(client, route, basic("pk-lf-nobody", "sk-lf-nothing"))
        assert response.status_code == 200


class TestRoutesWithUrlTokens:
    @pytest.mark.parametrize("route", WITH_URL_TOKEN, ids=str)
    def test_a_wrong_token_is_refused_even_with_a_valid_key(
        self, client: TestClient, route: Route, shared_project: ProjectKeys
    ) -> None:
        url = route.url({"media_id": "no-such-id"}) + "?token=guess"
        response = client.request(route.method, url, content=b"abc", headers=shared_project.headers)
        assert response.status_code == 403
        assert response.json()["message"] == "This URL needs the token it was issued with"

    @pytest.mark.parametrize("route", WITH_URL_TOKEN, ids=str)
    def test_without_a_token_the_request_is_invalid(self, client: TestClient, route: Route) -> None:
        response = client.request(route.method, route.url({"media_id": "x"}), content=b"abc")
        assert response.status_code == 400


class TestMissingOrBadCredentials:
    @pytest.mark.parametrize("route", ROUTES, ids=str)
    def test_a_request_without_a_header_gets_401(self, client: TestClient, route: Route) -> None:
        assert_unauthorized(send(client, route, {}), route, NO_HEADER)

    @pytest.mark.parametrize("header", MALFORMED.values(), ids=MALFORMED.keys())
    @pytest.mark.parametrize("route", ROUTES, ids=str)
    def test_a_malformed_header_gets_401(
        self, client: TestClient, route: Route, header: str
    ) -> None:
        assert_unauthorized(send(client, route, {"Authorization": header}), route, BAD_HEADER)

    @pytest.mark.parametrize("route", ROUTES, ids=str)
    def test_a_wrong_secret_gets_401(
        self, client: TestClient, shared_project: ProjectKeys, route: Route
    ) -> None:
        response = send(
            client, route, basic(shared_project.public_key, shared_project.secret_key + "x")
        )
        assert_unauthorized(response, route, BAD_CREDENTIALS)

    @pytest.mark.parametrize("route", ROUTES, ids=str)
    def test_an_unknown_public_key_gets_401_with_or_without_a_secret(
        self, client: TestClient, route: Route
    ) -> None:
        for headers in (basic("pk-lf-nobody", "sk-lf-nothing"), bearer("pk-lf-nobody")):
            assert_unauthorized(send(client, route, headers), route, BAD_CREDENTIALS)

    @pytest.mark.parametrize("route", ROUTES, ids=str)
    def test_a_revoked_key_gets_401_even_after_it_was_used(
        self, client: TestClient, engine: Engine, project: ProjectKeys, route: Route
    ) -> None:
        assert (
            client.get("/api/public/projects", auth=project.auth).status_code == 200
        )  # caches the secret
        with Session(engine) as session:
            assert revoke_key(session, project.public_key) is not None
            session.commit()
        assert_unauthorized(send(client, route, project.headers), route, BAD_CREDENTIALS)
        if route.public_key_alone:
            assert_unauthorized(
                send(client, route, bearer(project.public_key)), route, BAD_CREDENTIALS
            )

    def test_the_secret_of_one_project_does_not_open_another(
        self, client: TestClient, project: ProjectKeys, other_project: ProjectKeys
    ) -> None:
        response = client.get(
            "/api/public/projects", headers=basic(project.public_key, other_project.secret_key)
        )
        assert response.status_code == 401
        assert response.json() == {"message": BAD_CREDENTIALS}


class TestPublicKeyAlone:
    @pytest.mark.parametrize("route", NEEDS_SECRET, ids=str)
    def test_a_bearer_public_key_is_forbidden_where_a_secret_is_needed(
        self, client: TestClient, shared_project: ProjectKeys, route: Route
    ) -> None:
        response = send(client, route, bearer(shared_project.public_key))
        assert response.status_code == 403, response.text
        assert response.json() == {"message": INSUFFICIENT}

    def test_a_bearer_public_key_may_create_a_score(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        score_id = new_id()
        response = client.post(
            "/api/public/scores",
            json={"id": score_id, "name": "thumbs", "value": 1.0},
            headers=bearer(project.public_key),
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"id": score_id}
        stored = client.get(f"/api/public/scores/{score_id}", auth=project.auth).json()
        assert (stored["name"], stored["value"], stored["projectId"]) == ("thumbs", 1.0, project.id)

    def test_a_bearer_public_key_may_call_ingestion(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        response = client.post(
            "/api/public/ingestion", json={"batch": []}, headers=bearer(project.public_key)
        )
        assert response.status_code == 207
        assert response.json() == {"successes": [], "errors": []}


@dataclass
class Seeded:
    """A trace with a generation, a score on the trace, a session and a user, in one project."""

    trace_id: str
    observation_id: str
    score_id: str
    session_id: str
    user_id: str
    media_id: str = ""
    prompt_name: str = ""
    model_id: str = ""

    @property
    def ids(self) -> dict[str, str]:
        return {
            "name": self.prompt_name,
            "version": "1",
            "trace_id": self.trace_id,
            "observation_id": self.observation_id,
            "score_id": self.score_id,
            "session_id": self.session_id,
            "media_id": self.media_id,
            "model_id": self.model_id,
        }

    def id_of(self, kind: str) -> str:
        return self.ids[f"{kind}_id"]


def seed(client: TestClient, project: ProjectKeys, label: str) -> Seeded:
    seeded = Seeded(new_id(), new_id(), new_id(), f"session-{new_id()}", f"user-{new_id()}")
    ingest(
        client,
        project,
        [
            trace_event(
                seeded.trace_id,
                name=f"{label} trace",
                userId=seeded.user_id,
                sessionId=seeded.session_id,
                input={"owner": label},
                tags=[label],
            ),
            generation_event(seeded.observation_id, seeded.trace_id, name=f"{label} generation"),
            score_event(seeded.score_id, trace_id=seeded.trace_id, value=0.25, comment=label),
        ],
    )
    seeded.media_id = upload_media(client, project, f"picture of {label}".encode())
    seeded.prompt_name = f"prompt-{label}-{new_id()}"
    created = client.post(
        "/api/public/v2/prompts",
        json={
            "name": seeded.prompt_name,
            "prompt": f"{label} says {{{{x}}}}",
            "labels": ["production"],
        },
        auth=project.auth,
    )
    assert created.status_code == 201, created.text
    model = client.post(
        "/api/public/models",
        json={
            "modelName": f"{label}-model",
            "matchPattern": f"^{label}-model$",
            "inputPrice": 1e-6,
        },
        auth=project.auth,
    )
    assert model.status_code == 200, model.text
    seeded.model_id = model.json()["id"]
    return seeded


def upload_media(client: TestClient, project: ProjectKeys, content: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
    registration = client.post(
        "/api/public/media",
        json={
            "contentType": "image/png",
            "contentLength": len(content),
            "sha256Hash": digest,
            "field": "input",
        },
        auth=project.auth,
    )
    assert registration.status_code == 201, registration.text
    answer = registration.json()
    upload = client.put(answer["uploadUrl"], content=content, headers={"content-type": "image/png"})
    assert upload.status_code == 200, upload.text
    return str(answer["mediaId"])


@dataclass
class TwoProjects:
    a: ProjectKeys
    b: ProjectKeys
    a_data: Seeded
    b_data: Seeded


@pytest.fixture
def two(client: TestClient, project: ProjectKeys, other_project: ProjectKeys) -> TwoProjects:
    return TwoProjects(
        project, other_project, seed(client, project, "A"), seed(client, other_project, "B")
    )


def read_everything(
    client: TestClient, keys: ProjectKeys, data: Seeded, *, models: bool = True
) -> dict[str, Any]:
    """Every by-id view of a project's seeded data (each must answer 200)."""
    views = {}
    urls = {
        "trace": f"/api/public/traces/{data.trace_id}",
        "observation": f"/api/public/observations/{data.observation_id}",
        "score": f"/api/public/scores/{data.score_id}",
        "session": f"/api/public/sessions/{data.session_id}",
        "model": f"/api/public/models/{data.model_id}",
    }
    if not models:
        del urls["model"]
    for name, url in urls.items():
        response = client.get(url, auth=keys.auth)
        assert response.status_code == 200, (url, response.text)
        views[name] = response.json()
    return views


BY_ID_READS = [r for r in ROUTES if r.method == "GET" and "{" in r.template]
Params = Callable[[Seeded], dict[str, str]]
LIST_READS = [
    pytest.param("/api/public/traces", "trace", lambda s: {}, id="traces"),
    pytest.param(
        "/api/public/traces", "trace", lambda s: {"sessionId": s.session_id}, id="traces-by-session"
    ),
    pytest.param(
        "/api/public/traces", "trace", lambda s: {"userId": s.user_id}, id="traces-by-user"
    ),
    pytest.param("/api/public/observations", "observation", lambda s: {}, id="observations"),
    pytest.param(
        "/api/public/observations",
        "observation",
        lambda s: {"traceId": s.trace_id},
        id="observations-by-trace",
    ),
    pytest.param("/api/public/v2/observations", "observation", lambda s: {}, id="v2-observations"),
    pytest.param(
        "/api/public/v2/observations",
        "observation",
        lambda s: {"traceId": s.trace_id},
        id="v2-observations-by-trace",
    ),
    pytest.param(
        "/api/public/v2/observations",
        "observation",
        lambda s: {"sessionId": s.session_id},
        id="v2-observations-by-session",
    ),
    pytest.param("/api/public/v3/scores", "score", lambda s: {}, id="v3-scores"),
    pytest.param(
        "/api/public/v3/scores", "score", lambda s: {"traceId": s.trace_id}, id="v3-scores-by-trace"
    ),
    pytest.param(
        "/api/public/v3/scores", "score", lambda s: {"id": s.score_id}, id="v3-scores-by-id"
    ),
    pytest.param("/api/public/sessions", "session", lambda s: {}, id="sessions"),
]


class TestReadsStayInTheirProject:
    @pytest.mark.parametrize("route", BY_ID_READS, ids=str)
    def test_another_project_s_ids_are_not_found(
        self, client: TestClient, two: TwoProjects, route: Route
    ) -> None:
        url = route.url(two.a_data.ids)
        assert client.get(url, auth=two.a.auth).status_code == 200
        response = client.get(url, auth=two.b.auth)
        assert response.status_code == 404
        body = response.json()
        assert body["error"] == "LangfuseNotFoundError"
        assert "not found" in body["message"]

    @pytest.mark.parametrize(("path", "kind", "params"), LIST_READS)
    def test_lists_show_only_the_key_s_own_project(
        self, client: TestClient, two: TwoProjects, path: str, kind: str, params: Params
    ) -> None:
        query = params(two.a_data)
        as_a = client.get(path, params=query, auth=two.a.auth).json()
        response = client.get(path, params=query, auth=two.b.auth)
        assert response.status_code == 200
        as_b = response.json()
        assert [item["id"] for item in as_a["data"]] == [two.a_data.id_of(kind)]
        # Unfiltered, B sees exactly its own; filtered on A's values, B sees nothing.
        expected = [] if query else [two.b_data.id_of(kind)]
        assert [item["id"] for item in as_b["data"]] == expected
        if "totalItems" in as_b["meta"]:
            assert as_b["meta"]["totalItems"] == len(expected)

    def test_a_trace_lists_only_its_own_project_s_observations_and_scores(
        self, client: TestClient, two: TwoProjects
    ) -> None:
        a_trace = client.get(f"/api/public/traces/{two.a_data.trace_id}", auth=two.a.auth).json()
        assert [o["id"] for o in a_trace["observations"]] == [two.a_data.observation_id]
        assert [s["id"] for s in a_trace["scores"]] == [two.a_data.score_id]
        listed = client.get("/api/public/traces", auth=two.b.auth).json()["data"]
        assert listed[0]["observations"] == [two.b_data.observation_id]
        assert listed[0]["scores"] == [two.b_data.score_id]

    def test_the_projects_route_names_only_the_key_s_own_project(
        self, client: TestClient, two: TwoProjects
    ) -> None:
        for keys in (two.a, two.b):
            data = client.get("/api/public/projects", auth=keys.auth).json()["data"]
            assert [(p["id"], p["name"]) for p in data] == [(keys.id, keys.name)]


class TestWritesStayInTheirProject:
    def test_deletes_sent_by_another_project_leave_the_data_in_place(
        self, client: TestClient, two: TwoProjects
    ) -> None:
        before = read_everything(client, two.a, two.a_data)
        trace_id, score_id = two.a_data.trace_id, two.a_data.score_id
        assert client.delete(f"/api/public/traces/{trace_id}", auth=two.b.auth).status_code == 404
        assert client.delete(f"/api/public/scores/{score_id}", auth=two.b.auth).status_code == 404
        model = client.delete(f"/api/public/models/{two.a_data.model_id}", auth=two.b.auth)
        assert model.status_code == 404
        bulk = client.request(
            "DELETE", "/api/public/traces", json={"traceIds": [trace_id]}, auth=two.b.auth
        )
        assert bulk.status_code == 200
        assert read_everything(client, two.a, two.a_data) == before

    @pytest.mark.parametrize("route", DELETES, ids=str)
    def test_refused_deletes_change_nothing(
        self, client: TestClient, two: TwoProjects, route: Route
    ) -> None:
        before = read_everything(client, two.a, two.a_data)
        body = {"traceIds": [two.a_data.trace_id]} if route.body else None
        for headers in ({}, basic(two.a.public_key, "sk-lf-wrong"), bearer(two.a.public_key)):
            response = client.request(
                route.method, route.url(two.a_data.ids), json=body, headers=headers
            )
            assert response.status_code in (401, 403)
        assert read_everything(client, two.a, two.a_data) == before

    def test_events_with_another_project_s_ids_create_copies_of_their_own(
        self, client: TestClient, two: TwoProjects
    ) -> None:
        a = two.a_data
        before = read_everything(client, two.a, a)
        ingest(
            client,
            two.b,
            [
                trace_event(
                    a.trace_id,
                    name="B's copy",
                    userId="b-user",
                    sessionId=a.session_id,
                    input={"owner": "B"},
                    tags=["B"],
                    metadata={"by": "B"},
                ),
                generation_event(
                    a.observation_id,
                    a.trace_id,
                    name="B's generation",
                    usageDetails={"input": 1, "output": 1},
                ),
                score_event(a.score_id, trace_id=a.trace_id, value=0.75, comment="B"),
            ],
        )
        assert read_everything(client, two.a, a) == before

        b_view = read_everything(client, two.b, a, models=False)
        assert (
            b_view["trace"]["name"],
            b_view["trace"]["userId"],
            b_view["trace"]["projectId"],
        ) == ("B's copy", "b-user", two.b.id)
        assert b_view["trace"]["input"] == {"owner": "B"}
        assert b_view["trace"]["tags"] == ["B"]
        assert b_view["observation"]["name"] == "B's generation"
        assert b_view["observation"]["usageDetails"] == {"input": 1, "output": 1, "total": 2}
        assert (
            b_view["score"]["value"],
            b_view["score"]["comment"],
            b_view["score"]["projectId"],
        ) == (0.75, "B", two.b.id)
        assert [t["id"] for t in b_view["session"]["traces"]] == [a.trace_id]
        assert b_view["session"]["traces"][0]["name"] == "B's copy"

    def test_a_score_posted_with_another_project_s_id_is_a_copy_of_its_own(
        self, client: TestClient, two: TwoProjects
    ) -> None:
        a = two.a_data
        before = client.get(f"/api/public/scores/{a.score_id}", auth=two.a.auth).json()
        response = client.post(
            "/api/public/scores",
            auth=two.b.auth,
            json={
                "id": a.score_id,
                "traceId": a.trace_id,
                "name": "stolen",
                "value": 0.5,
                "comment": "B",
            },
        )
        assert response.status_code == 200
        assert response.json() == {"id": a.score_id}
        assert client.get(f"/api/public/scores/{a.score_id}", auth=two.a.auth).json() == before
        copy = client.get(f"/api/public/scores/{a.score_id}", auth=two.b.auth).json()
        assert (copy["name"], copy["value"], copy["projectId"]) == ("stolen", 0.5, two.b.id)

    def test_a_bearer_score_with_another_project_s_id_is_a_copy_of_its_own(
        self, client: TestClient, two: TwoProjects
    ) -> None:
        a = two.a_data
        before = client.get(f"/api/public/scores/{a.score_id}", auth=two.a.auth).json()
        response = client.post(
            "/api/public/scores",
            headers=bearer(two.b.public_key),
            json={"id": a.score_id, "name": "thumbs", "value": 0.0},
        )
        assert response.status_code == 200
        assert client.get(f"/api/public/scores/{a.score_id}", auth=two.a.auth).json() == before
        assert (
            client.get(f"/api/public/scores/{a.score_id}", auth=two.b.auth).json()["name"]
            == "thumbs"
        )


class TestSameIdsInTwoProjects:
    def test_one_set_of_ids_names_independent_entities_in_each_project(
        self, client: TestClient, project: ProjectKeys, other_project: ProjectKeys
    ) -> None:
        trace_id, obs_id, score_id, session_id = new_id(), new_id(), new_id(), f"s-{new_id()}"
        extra_obs = new_id()
        for keys, label in ((project, "A"), (other_project, "B")):
            ingest(
                client,
                keys,
                [
                    trace_event(trace_id, name=label, sessionId=session_id),
                    generation_event(obs_id, trace_id, name=label),
                    score_event(
                        score_id, trace_id=trace_id, name=label, value=1.0 if label == "A" else 0.0
                    ),
                ],
            )
        ingest(client, other_project, [generation_event(extra_obs, trace_id, name="B only")])

        a_trace = client.get(f"/api/public/traces/{trace_id}", auth=project.auth).json()
        b_trace = client.get(f"/api/public/traces/{trace_id}", auth=other_project.auth).json()
        assert a_trace["name"] == "A" and b_trace["name"] == "B"
        assert [(o["id"], o["name"]) for o in a_trace["observations"]] == [(obs_id, "A")]
        assert sorted(o["id"] for o in b_trace["observations"]) == sorted([obs_id, extra_obs])
        assert [(s["name"], s["value"]) for s in a_trace["scores"]] == [("A", 1.0)]
        assert [(s["name"], s["value"]) for s in b_trace["scores"]] == [("B", 0.0)]

        assert (
            client.delete(f"/api/public/traces/{trace_id}", auth=other_project.auth).status_code
            == 200
        )
        for url in (
            f"/api/public/traces/{trace_id}",
            f"/api/public/observations/{obs_id}",
            f"/api/public/scores/{score_id}",
            f"/api/public/sessions/{session_id}",
        ):
            assert client.get(url, auth=other_project.auth).status_code == 404, url
            assert client.get(url, auth=project.auth).status_code == 200, url
        assert client.get(f"/api/public/traces/{trace_id}", auth=project.auth).json() == a_trace

    def test_deleting_a_score_in_one_project_keeps_the_other_s(
        self, client: TestClient, project: ProjectKeys, other_project: ProjectKeys
    ) -> None:
        score_id = new_id()
        for keys in (project, other_project):
            assert (
                client.post(
                    "/api/public/scores",
                    json={"id": score_id, "name": "q", "value": 2.0},
                    auth=keys.auth,
                ).status_code
                == 200
            )
        assert client.delete(f"/api/public/scores/{score_id}", auth=project.auth).status_code == 202
        assert client.get(f"/api/public/scores/{score_id}", auth=project.auth).status_code == 404
        assert (
            client.get(f"/api/public/scores/{score_id}", auth=other_project.auth).json()["value"]
            == 2.0
        )
