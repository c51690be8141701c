from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ProjectKeys

URL = "/api/public/v2/prompts"


def create(client: TestClient, project: ProjectKeys, **body: object) -> dict:
    response = client.post(URL, json={"name": "p", "prompt": "hi", **body}, auth=project.auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


class TestPromptRules:
    def test_an_unknown_prompt_or_label_is_404_with_the_langfuse_message(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        response = client.get(f"{URL}/missing", auth=project.auth)
        assert response.status_code == 404
        assert response.json()["message"] == "Prompt not found: 'missing' with label 'production'"
        create(client, project)
        assert (
            client.get(f"{URL}/p", params={"label": "nope"}, auth=project.auth).status_code == 404
        )
        assert client.get(f"{URL}/p", params={"version": 9}, auth=project.auth).status_code == 404

    def test_latest_follows_the_newest_version_and_cannot_be_set(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        assert create(client, project)["labels"] == ["latest"]
        second = create(client, project, prompt="hello")
        assert second["labels"] == ["latest"]
        first = client.get(f"{URL}/p", params={"version": 1}, auth=project.auth).json()
        assert first["labels"] == []
        refused = client.patch(
            f"{URL}/p/versions/1", json={"newLabels": ["latest"]}, auth=project.auth
        )
        assert refused.status_code == 400

    def test_tags_are_shared_by_every_version_and_a_name_keeps_its_type(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        create(client, project, tags=["a"])
        create(client, project, prompt="v2")
        create(client, project, prompt="v3", tags=["b"])
        for version in (1, 2, 3):
            assert client.get(f"{URL}/p", params={"version": version}, auth=project.auth).json()[
                "tags"
            ] == ["b"]
        chat = client.post(
            URL,
            json={"name": "p", "type": "chat", "prompt": [{"role": "user", "content": "x"}]},
            auth=project.auth,
        )
        assert chat.status_code == 400

    def test_bad_labels_and_names_are_400(self, client: TestClient, project: ProjectKeys) -> None:
        for body in (
            {"name": "p", "prompt": "x", "labels": ["Bad Label"]},
            {"name": "a|b", "prompt": "x"},
            {"name": "p"},
        ):
            assert client.post(URL, json=body, auth=project.auth).status_code == 400, body

    def test_prompts_stay_in_their_project(
        self, client: TestClient, project: ProjectKeys, other_project: ProjectKeys
    ) -> None:
        create(client, project, labels=["production"])
        assert client.get(f"{URL}/p", auth=other_project.auth).status_code == 404
        assert client.get(URL, auth=other_project.auth).json()["data"] == []
        assert (
            client.patch(
                f"{URL}/p/versions/1", json={"newLabels": ["x"]}, auth=other_project.auth
            ).status_code
            == 404
        )
        assert client.get(URL, auth=project.auth).json()["meta"]["totalItems"] == 1

    def test_auth_failures_use_the_prompt_routes_error_shape(self, client: TestClient) -> None:
        response = client.get(URL)
        assert response.status_code == 401
        assert response.json() == {
            "message": "No authorization header",
            "error": "UnauthorizedError",
        }
