"""Signed-in dashboard clients for tests: a user, a membership, and a cookie jar of their own."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from server.db.models import Project
from server.users import queries as users
from tests.conftest import ProjectKeys

PASSWORD = "correct horse battery"


class DashboardClient(TestClient):
    """A browser-like client: it keeps cookies and sends the CSRF token with every form."""

    csrf: str = ""
    email: str = ""

    def form(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return self.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def htmx(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {"HX-Request": "true", "X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.request(method, url, headers=headers, **kwargs)


def make_user(engine: Engine, project: ProjectKeys | None, role: str = "owner") -> str:
    email = f"u-{uuid.uuid4().hex[:10]}@example.com"
    with Session(engine) as session:
        user = users.create_user(session, email, PASSWORD)
        if project is not None:
            row = session.get(Project, project.id)
            assert row is not None
            users.add_member(session, row, user, users.Role(role))
        session.commit()
    return email


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> DashboardClient:
    browser = DashboardClient(client.app, follow_redirects=False)
    page = browser.get("/login")
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "login form has no CSRF field"
    browser.csrf = match.group(1)
    response = browser.form("/login", {"email": email, "password": password, "next": "/"})
    assert response.status_code == 303, response.text
    browser.email = email
    return browser


def signed_in(
    client: TestClient, engine: Engine, project: ProjectKeys, role: str = "owner"
) -> DashboardClient:
    return sign_in(client, make_user(engine, project, role))
