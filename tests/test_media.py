from __future__ import annotations

import base64
import hashlib

from fastapi.testclient import TestClient

from tests.conftest import ProjectKeys


def register(client: TestClient, project: ProjectKeys, content: bytes, **overrides: object) -> dict:
    body = {
        "traceId": "t1",
        "contentType": "audio/wav",
        "contentLength": len(content),
        "sha256Hash": base64.b64encode(hashlib.sha256(content).digest()).decode(),
        "field": "output",
        **overrides,
    }
    response = client.post("/api/public/media", json=body, auth=project.auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


class TestMediaUpload:
    def test_the_media_id_is_what_the_sdk_derives_from_the_hash(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        content = b"\xff\xfe sound"
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        answer = register(client, project, content)
        assert answer["mediaId"] == digest.replace("+", "-").replace("/", "_")[:22]
        assert answer["uploadUrl"].startswith("http://testserver/api/public/media/")

    def test_bytes_that_do_not_match_the_hash_are_refused(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        answer = register(client, project, b"the real bytes")
        response = client.put(answer["uploadUrl"], content=b"other bytes!!!")
        assert response.status_code == 400
        assert (
            client.get(f"/api/public/media/{answer['mediaId']}", auth=project.auth).status_code
            == 404
        )

    def test_uploaded_content_is_not_asked_for_twice(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        content = b"only once"
        first = register(client, project, content)
        assert client.put(first["uploadUrl"], content=content).status_code == 200
        again = register(client, project, content)
        assert again == {"mediaId": first["mediaId"], "uploadUrl": None}
        report = {"uploadedAt": "2026-11-28T10:00:00Z", "uploadHttpStatus": 200, "uploadTimeMs": 12}
        assert (
            client.patch(
                f"/api/public/media/{first['mediaId']}", json=report, auth=project.auth
            ).status_code
            == 204
        )
        details = client.get(f"/api/public/media/{first['mediaId']}", auth=project.auth).json()
        assert (details["contentType"], details["contentLength"]) == ("audio/wav", len(content))
        assert client.get(details["url"]).content == content

    def test_a_hash_that_is_not_sha256_is_a_400(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        body = {
            "contentType": "image/png",
            "contentLength": 3,
            "sha256Hash": "x" * 44,
            "field": "input",
        }
        assert client.post("/api/public/media", json=body, auth=project.auth).status_code == 400
