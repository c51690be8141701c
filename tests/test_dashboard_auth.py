"""Dashboard sign-in, CSRF and roles, through the real HTTP stack on both databases."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.conftest import ProjectKeys, make_project
from tests.dashboard import PASSWORD, DashboardClient, make_user, sign_in, signed_in


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


class TestSignIn:
    def test_pages_redirect_to_login_with_the_page_to_come_back_to(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        anonymous = DashboardClient(client.app, follow_redirects=False)
        response = anonymous.get(f"/project/{project.id}/settings/keys?x=1")
        assert response.status_code == 303
        assert response.headers["location"] == (
            f"/login?next=%2Fproject%2F{project.id}%2Fsettings%2Fkeys%3Fx%3D1"
        )
        htmx = anonymous.get(f"/project/{project.id}/settings/keys", headers={"HX-Request": "true"})
        assert htmx.status_code == 200 and htmx.headers["HX-Redirect"].startswith("/login?next=")

    def test_a_wrong_password_or_unknown_email_shows_one_message(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        email = make_user(engine, project)
        for who, password in ((email, "wrong password"), ("nobody@example.com", PASSWORD)):
            browser = DashboardClient(client.app, follow_redirects=False)
            page = browser.get("/login")
            browser.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
            response = browser.form("/login", {"email": who, "password": password})
            assert response.status_code == 401
            alert = soup(response.text).select_one("[role=alert]")
            assert alert is not None and alert.get_text(strip=True) == "Wrong email or password."
            assert "spyglass_session" not in browser.cookies

    def test_sign_in_goes_to_next_but_never_to_another_site(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        email = make_user(engine, project)
        for next_url, expected in (
            (f"/project/{project.id}/settings/members", f"/project/{project.id}/settings/members"),
            ("https://evil.example/", "/"),
            ("//evil.example/x", "/"),
        ):
            browser = DashboardClient(client.app, follow_redirects=False)
            page = browser.get("/login")
            browser.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
            response = browser.form(
                "/login", {"email": email.upper(), "password": PASSWORD, "next": next_url}
            )
            assert response.status_code == 303
            assert response.headers["location"] == expected

    def test_the_start_page_opens_the_first_project_and_sign_out_ends_the_session(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project)
        home = browser.get("/")
        assert home.headers["location"] == f"/project/{project.id}/traces"
        out = browser.form("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert browser.get("/").headers["location"].startswith("/login")

    def test_a_user_without_projects_is_told_what_to_do(
        self, client: TestClient, engine: Engine
    ) -> None:
        browser = sign_in(client, make_user(engine, None))
        page = soup(browser.get("/").text)
        assert page.h1 is not None and page.h1.get_text() == "No project yet"
        assert "spyglass projects create" in page.get_text()

    def test_a_tampered_session_cookie_is_not_accepted(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project)
        value = browser.cookies["spyglass_session"]
        tampered = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
        fresh = DashboardClient(client.app, follow_redirects=False)
        genuine = fresh.get("/", headers={"Cookie": f"spyglass_session={value}"})
        assert genuine.headers["location"] == f"/project/{project.id}/traces"
        forged = fresh.get("/", headers={"Cookie": f"spyglass_session={tampered}"})
        assert forged.headers["location"].startswith("/login")

    def test_changing_the_password_signs_out_other_browsers(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        email = make_user(engine, project)
        laptop, phone = sign_in(client, email), sign_in(client, email)
        wrong = laptop.form("/account/password", {"current": "nope", "new": "another-password"})
        assert wrong.status_code == 400 and "current password is wrong" in wrong.text
        short = laptop.form("/account/password", {"current": PASSWORD, "new": "short"})
        assert short.status_code == 400 and "at least 8" in short.text
        changed = laptop.form("/account/password", {"current": PASSWORD, "new": "another-password"})
        assert changed.status_code == 200 and "Password changed" in changed.text
        assert laptop.get("/").headers["location"] == f"/project/{project.id}/traces"
        assert phone.get("/").headers["location"].startswith("/login")
        sign_in(client, email, "another-password")


class TestCsrf:
    def test_a_form_without_the_token_or_with_another_browsers_token_is_refused(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project)
        other = signed_in(client, engine, project)
        url = f"/project/{project.id}/settings/keys"
        missing = browser.post(url, data={"note": "x"})
        assert missing.status_code == 403 and "Form expired" in missing.text
        foreign = browser.post(url, data={"note": "x", "csrf_token": other.csrf})
        assert foreign.status_code == 403
        header = browser.post(url, data={"note": "x"}, headers={"X-CSRF-Token": other.csrf})
        assert header.status_code == 403
        keys_listed = soup(browser.get(url).text).select("#key-table tbody tr")
        assert len(keys_listed) == 1  # only the project's own key: nothing was created

    def test_an_htmx_request_with_the_header_is_accepted_and_errors_come_back_as_a_toast(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project)
        url = f"/project/{project.id}/settings/keys"
        ok = browser.htmx("POST", url, data={"note": "from htmx"})
        assert ok.status_code == 200 and "<html" not in ok.text
        refused = browser.request("POST", url, headers={"HX-Request": "true"}, data={"note": "x"})
        assert refused.status_code == 403
        assert refused.headers["HX-Retarget"] == "#toasts"
        assert soup(refused.text).select_one(".toast") is not None

    def test_the_login_form_itself_needs_the_token(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        email = make_user(engine, project)
        browser = DashboardClient(client.app, follow_redirects=False)
        refused = browser.post("/login", data={"email": email, "password": PASSWORD})
        assert refused.status_code == 403
        assert "spyglass_session" not in browser.cookies


class TestApiKeysPage:
    def test_a_new_secret_is_shown_once_and_the_key_works_until_revoked(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project, role="member")
        url = f"/project/{project.id}/settings/keys"
        created = soup(browser.form(url, {"note": "<b>ci</b>"}).text)
        public = created.select_one("[data-testid=new-public-key]")
        secret = created.select_one("[data-testid=new-secret-key]")
        assert public is not None and secret is not None
        public_key, secret_key = public.get_text(), secret.get_text()
        rows = created.select("#key-table tbody tr")
        assert len(rows) == 2
        assert "<b>ci</b>" in rows[1].get_text()  # the note is text, not markup
        assert created.select_one("#key-table b") is None

        batch = {
            "batch": [
                {
                    "id": "e",
                    "type": "trace-create",
                    "timestamp": "2026-11-28T10:00:00Z",
                    "body": {"id": "t"},
                }
            ]
        }
        assert (
            client.post(
                "/api/public/ingestion", json=batch, auth=(public_key, secret_key)
            ).status_code
            == 207
        )
        again = browser.get(url).text
        assert secret_key not in again and public_key in again

        revoked = browser.form(f"{url}/{public_key}/revoke")
        assert revoked.status_code == 200
        row = next(
            r
            for r in soup(revoked.text).select("#key-table tbody tr")
            if public_key in r.get_text()
        )
        assert "revoked" in row.get_text()
        assert (
            client.post(
                "/api/public/ingestion", json=batch, auth=(public_key, secret_key)
            ).status_code
            == 401
        )

    def test_a_viewer_sees_keys_but_cannot_create_or_revoke(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project, role="viewer")
        url = f"/project/{project.id}/settings/keys"
        page = soup(browser.get(url).text)
        assert page.select_one(f"form[action='{url}']") is None
        assert page.select("#key-table button") == []
        assert browser.form(url, {"note": "x"}).status_code == 403
        assert browser.form(f"{url}/{project.public_key}/revoke").status_code == 403

    def test_a_key_of_another_project_cannot_be_revoked_here(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        other = make_project(engine)
        browser = signed_in(client, engine, project)
        response = browser.form(f"/project/{project.id}/settings/keys/{other.public_key}/revoke")
        assert response.status_code == 404
        batch = {"batch": []}
        assert client.post("/api/public/ingestion", json=batch, auth=other.auth).status_code == 207


class TestMembersAndProjects:
    def test_another_projects_pages_are_forbidden(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        other = make_project(engine)
        browser = signed_in(client, engine, project)
        for path in ("settings/keys", "settings/members"):
            response = browser.get(f"/project/{other.id}/{path}")
            assert response.status_code == 403
            assert "not a member" in response.text
        assert browser.get("/project/does-not-exist/settings/keys").status_code == 403

    def test_the_project_switcher_lists_only_my_projects(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        other = make_project(engine)
        browser = signed_in(client, engine, project)
        page = soup(browser.get(f"/project/{project.id}/settings/keys").text)
        links = [a["href"] for a in page.select(".project-switch a")]
        assert links == [f"/project/{project.id}/traces"]
        assert other.name not in page.get_text()

    def test_an_owner_invites_by_email_and_the_new_person_can_sign_in(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        owner = signed_in(client, engine, project)
        url = f"/project/{project.id}/settings/members"
        invited = soup(owner.form(url, {"email": "New.Person@Example.com", "role": "viewer"}).text)
        password = invited.select_one("[data-testid=invite-password]")
        assert password is not None
        emails = [row.td.get_text() for row in invited.select("#member-table tbody tr") if row.td]
        assert "new.person@example.com" in emails
        newcomer = sign_in(client, "new.person@example.com", password.get_text())
        assert newcomer.get("/").headers["location"] == f"/project/{project.id}/traces"
        assert newcomer.form(url, {"email": "x@example.com"}).status_code == 403

    def test_the_last_owner_cannot_leave_or_be_demoted(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        owner = signed_in(client, engine, project)
        page = soup(owner.get(f"/project/{project.id}/settings/members").text)
        form = page.select_one("#member-table form[hx-post]")
        assert form is not None
        user_id = str(form["hx-post"]).split("/")[-2]
        base = f"/project/{project.id}/settings/members/{user_id}"
        demoted = owner.form(f"{base}/role", {"role": "viewer"})
        assert demoted.status_code == 400 and "at least one owner" in demoted.text
        removed = owner.form(f"{base}/remove")
        assert removed.status_code == 400 and "at least one owner" in removed.text

    def test_bad_invites_are_explained(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        owner = signed_in(client, engine, project)
        url = f"/project/{project.id}/settings/members"
        bad_email = owner.form(url, {"email": "not an email", "role": "member"})
        assert bad_email.status_code == 400 and "is not an email address" in bad_email.text
        bad_role = owner.form(url, {"email": "ok@example.com", "role": "god"})
        assert bad_role.status_code == 400


class TestLayout:
    def test_the_header_shows_the_spyglass_version_even_on_a_trace_with_its_own_version(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        import server

        batch = {
            "batch": [
                {
                    "id": "e-version",
                    "type": "trace-create",
                    "timestamp": "2026-11-28T10:00:00Z",
                    "body": {"id": "t-version", "version": "{{7*7}}"},
                }
            ]
        }
        assert (
            client.post("/api/public/ingestion", json=batch, headers=project.headers).status_code
            == 207
        )
        browser = signed_in(client, engine, project)
        for path in ("traces/t-version", "settings/keys"):
            page = soup(browser.get(f"/project/{project.id}/{path}").text)
            version = page.select_one("header.top .version")
            assert version is not None and version.get_text() == f"v{server.__version__}"
