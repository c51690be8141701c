"""Sign-in, sign-out, API keys and members, clicked through in a real browser (both databases)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import httpx
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import Engine

from tests.browser.conftest import Pages, SignedIn, shot, sign_in, signed_in_as
from tests.conftest import ProjectKeys
from tests.dashboard import PASSWORD, make_user
from tests.factories import new_id, trace_event

SESSION_COOKIE = "spyglass_session"


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def has_session(page: Page) -> bool:
    return any(cookie["name"] == SESSION_COOKIE for cookie in page.context.cookies())


def ingest_status(base_url: str, public_key: str, secret_key: str) -> int:
    """POST one trace with this key pair, as an SDK would; the status the API answers."""
    body = {"batch": [trace_event(new_id(), name="from-the-browser-test")]}
    response = httpx.post(
        f"{base_url}/api/public/ingestion", json=body, auth=(public_key, secret_key), timeout=10
    )
    return response.status_code


# --- signing in and out -------------------------------------------------------------------


def test_wrong_password_shows_the_error_and_stays_on_login(
    page: Page, engine: Engine, project: ProjectKeys
) -> None:
    email = make_user(engine, project)
    response = sign_in(page, email, "not the password")
    assert response is not None and response.status == 401
    assert path_of(page) == "/login"
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("Password")).to_have_value("")
    assert not has_session(page)
    shot(page, "wrong-password")


def test_sign_in_lands_on_the_projects_traces(
    page: Page, engine: Engine, project: ProjectKeys
) -> None:
    email = make_user(engine, project)
    page.goto("/login")
    shot(page, "login-form")
    response = sign_in(page, email)
    assert path_of(page) == f"/project/{project.id}/traces"
    assert has_session(page)
    assert response is not None and response.status == 200, response
    sections = page.get_by_role("navigation", name="Sections")
    expect(sections.get_by_role("link", name="Traces")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_sign_in_returns_to_the_page_asked_for(
    page: Page, engine: Engine, project: ProjectKeys
) -> None:
    email = make_user(engine, project)
    members = f"/project/{project.id}/settings/members"
    page.goto(members)
    # Signed out: sent to the login form, which remembers where we wanted to go.
    assert path_of(page) == "/login"
    assert urlsplit(page.url).query == f"next={quote(members, safe='')}"
    sign_in(page, email)
    assert path_of(page) == members
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    expect(page.locator("#member-table")).to_contain_text(email)


def test_sign_in_never_follows_next_to_another_site(
    page: Page, engine: Engine, project: ProjectKeys, live_url: str
) -> None:
    email = make_user(engine, project)
    sign_in(page, email, next="//evil.example/steal")
    assert urlsplit(page.url).netloc == urlsplit(live_url).netloc
    assert "evil.example" not in page.url
    assert path_of(page) == f"/project/{project.id}/traces"


def test_sign_out_ends_the_session(signed_in_page: SignedIn) -> None:
    page = signed_in_page.page
    keys = f"/project/{signed_in_page.project.id}/settings/keys"
    signed_in_page.goto("settings/keys")
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert path_of(page) == "/login"
    assert not has_session(page)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    # A protected page now sends the browser back to sign in.
    page.goto(keys)
    assert path_of(page) == "/login"
    assert urlsplit(page.url).query == f"next={quote(keys, safe='')}"
    expect(page.get_by_role("heading", name="Sign in to Spyglass")).to_be_visible()


# --- API keys -----------------------------------------------------------------------------


def test_create_a_key_use_it_and_revoke_it(signed_in_page: SignedIn, live_url: str) -> None:
    page, project = signed_in_page.page, signed_in_page.project
    signed_in_page.goto("settings/keys")
    table = page.locator("#key-table")
    expect(table.get_by_text(project.public_key)).to_be_visible()
    shot(page, "keys-before")

    # Create: HTMX swaps the section in place; a full page load would drop this variable.
    page.evaluate("window.__spyglassBeforeClick = 'still here'")
    note = f"browser test {uuid.uuid4().hex[:6]}"
    page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Create key").click()
    public = page.get_by_test_id("new-public-key")
    secret = page.get_by_test_id("new-secret-key")
    expect(public).to_have_text(re.compile(r"^pk-lf-\S+$"))
    expect(secret).to_have_text(re.compile(r"^sk-lf-\S+$"))
    assert page.evaluate("window.__spyglassBeforeClick") == "still here"
    new_public, new_secret = public.inner_text(), secret.inner_text()
    assert new_public != project.public_key
    row = table.locator("tr", has_text=new_public)
    expect(row).to_contain_text(note)
    expect(row).to_contain_text("active")
    expect(page.get_by_role("status")).to_contain_text("shown only this once")
    shot(page, "key-created")

    # The pair works against the API at once.
    assert ingest_status(live_url, new_public, new_secret) == 207

    # The secret is shown only once: a reload lists the key without it.
    page.reload()
    expect(table.locator("tr", has_text=new_public)).to_be_visible()
    expect(page.get_by_test_id("new-secret-key")).to_have_count(0)
    assert new_secret not in page.content()

    # Revoke asks first; dismissing the question changes nothing.
    row = table.locator("tr", has_text=new_public)
    questions: list[str] = []

    def answer(accept: bool) -> Callable[[Dialog], None]:
        def handle(dialog: Dialog) -> None:
            questions.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        return handle

    page.once("dialog", answer(False))
    row.get_by_role("button", name="Revoke").click()
    expect(row).to_contain_text("active")
    assert ingest_status(live_url, new_public, new_secret) == 207

    page.evaluate("window.__spyglassBeforeClick = 'still here'")
    page.once("dialog", answer(True))
    row.get_by_role("button", name="Revoke").click()
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    assert page.evaluate("window.__spyglassBeforeClick") == "still here"
    assert len(questions) == 2 and all(new_public in q for q in questions), questions
    shot(page, "key-revoked")

    assert ingest_status(live_url, new_public, new_secret) == 401
    # Only that key: the project's other key still works.
    expect(table.locator("tr", has_text=project.public_key)).to_contain_text("active")
    assert ingest_status(live_url, project.public_key, project.secret_key) == 207


def test_a_viewer_cannot_create_or_revoke_keys(
    page: Page, engine: Engine, project: ProjectKeys
) -> None:
    viewer = signed_in_as(page, engine, project, "viewer")
    response = viewer.goto("settings/keys")
    assert response is not None and response.status == 200
    expect(page.locator("#key-table").get_by_text(project.public_key)).to_be_visible()
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    expect(page.get_by_label("Note")).to_have_count(0)
    expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
    viewer.goto("settings/members")
    expect(page.locator("#member-table")).to_contain_text(viewer.email)
    expect(page.get_by_role("button", name="Add member")).to_have_count(0)
    shot(page, "viewer-keys")


# --- members ------------------------------------------------------------------------------


def test_owner_adds_a_member_who_signs_in_with_the_one_time_password(
    signed_in_page: SignedIn, pages: Pages
) -> None:
    page, project = signed_in_page.page, signed_in_page.project
    signed_in_page.goto("settings/members")
    newcomer = f"new-{uuid.uuid4().hex[:8]}@example.com"
    form = page.locator("form", has=page.get_by_role("button", name="Add member"))
    form.get_by_label("Email").fill(newcomer)
    form.get_by_label("Role").select_option("member")
    form.get_by_role("button", name="Add member").click()
    password = page.get_by_test_id("invite-password")
    expect(password).to_have_text(re.compile(r"^\S{8,}$"))
    one_time = password.inner_text()
    assert one_time != PASSWORD
    expect(page.locator("#member-table tr", has_text=newcomer)).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text(f"{newcomer} is now member")
    shot(page, "member-added")

    # The newcomer, in a browser of their own, signs in with it and sees the project.
    theirs = pages.new()
    sign_in(theirs, newcomer, one_time)
    assert path_of(theirs) == f"/project/{project.id}/traces"
    response = theirs.goto(f"/project/{project.id}/settings/keys")
    assert response is not None and response.status == 200
    expect(theirs.get_by_role("navigation", name="Project")).to_contain_text(project.name)
    expect(theirs.locator("#key-table").get_by_text(project.public_key)).to_be_visible()
    # A member manages keys.
    expect(theirs.get_by_role("button", name="Create key")).to_be_visible()
    shot(theirs, "newcomer-signed-in")

    # The owner's page lists them with a last sign-in after a reload.
    page.reload()
    expect(page.get_by_test_id("invite-password")).to_have_count(0)
    expect(page.locator("#member-table tr", has_text=newcomer)).to_be_visible()
