"""Browser tests: the dashboard in a real headless Chromium, on SQLite and on PostgreSQL.

Playwright drives Debian's `chromium` (the binary on PATH); a browser is never downloaded.
Run `scripts/install-chromium` once if it is missing: a missing browser fails the suite
instead of skipping it, so a forgotten install step cannot hide.

Fixtures for test modules in this folder:

* `live_url` – a uvicorn server on the test database of this dialect (one per session).
* `page` – a fresh browser context and page, `base_url` set to `live_url`, so
  `page.goto("/login")` works. Every page error and console error fails the test (see
  `js_errors` to allow an expected one). At the end of each test, passed or failed, a
  full-page screenshot goes to `test-artifacts/screenshots/<test>.png`.
* `pages` – more pages, each in a context (cookie jar) of its own: `pages.new()`.
* `signed_in_page` – `page`, signed in through the login form as the owner of a new project.
* `shot(page, "step")` – an extra screenshot, `<test>--step.png`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Cookie,
    Page,
    Response,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from server.config import Settings
from server.db.models import Project
from server.users import queries as users
from tests.conftest import ProjectKeys
from tests.dashboard import PASSWORD, make_user
from tests.live import live_server

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

# Milliseconds a locator or navigation may wait: pages here answer in a few milliseconds, so a
# missing element fails quickly instead of after Playwright's default 30 s.
TIMEOUT_MS = 10_000


# --- browser and server -------------------------------------------------------------------


# Package scope, not session: Playwright's sync API keeps an asyncio loop running in the main
# thread while it is open, and every later test that runs its own loop (anyio, asyncio.run)
# would fail. It closes when the last browser test of a run (per database) is done.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "The browser tests need Debian's chromium on PATH and it is not there. "
            "Run scripts/install-chromium (apt-get install chromium; needs root or sudo).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def live_url(settings: Settings, engine: Engine) -> Iterator[str]:
    """The dashboard and API over a socket; `engine` has migrated the database first."""
    with live_server(settings) as url:
        yield url


# --- screenshots --------------------------------------------------------------------------


def _test_name() -> str:
    """`test_x[sqlite]` of the running test, as a file name (`test_x-sqlite`)."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "browser-test").split(" ")[0]
    name = current.rsplit("::", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def shot(page: Page, step: str) -> Path:
    """A full-page screenshot of this step: test-artifacts/screenshots/<test>--<step>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    step = re.sub(r"[^A-Za-z0-9_.-]+", "-", step).strip("-")
    path = SCREENSHOTS / f"{_test_name()}--{step}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- JavaScript errors --------------------------------------------------------------------


@dataclass
class JsErrors:
    """Uncaught exceptions and console errors of every page a test opened.

    "Failed to load resource" console lines are not collected: they only echo an HTTP
    status (a 401 from a wrong password, say), which tests assert on the response itself.
    """

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Let errors matching `pattern` (a regular expression) through, for this test."""
        self.allowed.append(re.compile(pattern))

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda exc: self._add(f"page error: {exc}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self._add(f"console error: {message.text} ({message.location.get('url', '')})")

    def _add(self, text: str) -> None:
        if not any(pattern.search(text) for pattern in self.allowed):
            self.errors.append(text)


js_errors_key = pytest.StashKey[JsErrors]()


@pytest.fixture
def js_errors(request: pytest.FixtureRequest) -> JsErrors:
    errors = JsErrors()
    request.node.stash[js_errors_key] = errors
    return errors


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that passed fails after all if its pages logged a JavaScript error."""
    result = yield
    errors = item.stash.get(js_errors_key, None)
    if errors is not None and errors.errors:
        pytest.fail("JavaScript errors in the browser:\n" + "\n".join(errors.errors))
    return result


# --- pages --------------------------------------------------------------------------------


class Pages:
    """Pages of one test, each in a browser context of its own (own cookies, own sign-in)."""

    def __init__(self, browser: Browser, base_url: str, errors: JsErrors) -> None:
        self.browser = browser
        self.base_url = base_url
        self.errors = errors
        self.opened: list[tuple[BrowserContext, Page]] = []

    def new(self) -> Page:
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        page = context.new_page()
        self.errors.watch(page)
        self.opened.append((context, page))
        return page

    def close(self) -> None:
        """Screenshot every page as the test left it, then close the contexts."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = _test_name()
        for number, (context, page) in enumerate(self.opened, start=1):
            suffix = "" if number == 1 else f"--page{number}"
            try:
                page.screenshot(path=str(SCREENSHOTS / f"{name}{suffix}.png"), full_page=True)
            except PlaywrightError:
                pass  # a page that crashed or closed has nothing to show
            context.close()


@pytest.fixture
def pages(browser: Browser, live_url: str, js_errors: JsErrors) -> Iterator[Pages]:
    opened = Pages(browser, live_url, js_errors)
    yield opened
    opened.close()


@pytest.fixture
def page(pages: Pages) -> Page:
    return pages.new()


# --- signing in ---------------------------------------------------------------------------


def sign_in(
    page: Page, email: str, password: str = PASSWORD, *, next: str | None = None
) -> Response | None:
    """Sign in through the real login form; returns the response the browser ended up on."""
    if next is not None or not page.url.split("?")[0].endswith("/login"):
        page.goto("/login" + (f"?next={quote(next, safe='')}" if next else ""))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Sign in").click()
    return navigation.value


@dataclass
class SignedIn:
    page: Page
    project: ProjectKeys
    email: str

    def goto(self, path: str) -> Response | None:
        """Open a page of this project: `goto("settings/keys")`."""
        return self.page.goto(f"/project/{self.project.id}/{path.lstrip('/')}")


def signed_in_as(page: Page, engine: Engine, project: ProjectKeys, role: str) -> SignedIn:
    email = make_user(engine, project, role)
    sign_in(page, email)
    assert "/login" not in page.url, f"sign-in as {role} failed: still on {page.url}"
    return SignedIn(page, project, email)


@pytest.fixture
def signed_in_page(page: Page, engine: Engine, project: ProjectKeys) -> SignedIn:
    """`page` signed in as the owner of `project` (a new project of this test's own)."""
    return signed_in_as(page, engine, project, "owner")


# --- shared data and sessions (for module-scoped fixtures) --------------------------------


def ingest(base_url: str, project: ProjectKeys, events: list[dict[str, Any]]) -> None:
    """Send events through the real ingestion API of the live server; every one must land."""
    for start in range(0, len(events), 400):
        response = httpx.post(
            f"{base_url}/api/public/ingestion",
            json={"batch": events[start : start + 400]},
            auth=project.auth,
            timeout=30,
        )
        assert response.status_code == 207, response.text
        assert response.json()["errors"] == [], response.text


def add_member(engine: Engine, project: ProjectKeys, email: str, role: str = "owner") -> None:
    """Make an existing user a member of one more project."""
    with Session(engine) as session:
        user = users.get_user_by_email(session, email)
        row = session.get(Project, project.id)
        assert user is not None and row is not None
        users.add_member(session, row, user, users.Role(role))
        session.commit()


def session_cookies(browser: Browser, base_url: str, email: str) -> list[Cookie]:
    """Sign in once through the form and keep the cookies, for `use_cookies` in many tests."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, email)
        assert "/login" not in page.url, f"sign-in of {email} failed: still on {page.url}"
        return context.cookies()
    finally:
        context.close()


def use_cookies(page: Page, cookies: list[Cookie]) -> Page:
    """`page`, signed in with cookies from `session_cookies` (no password check per test)."""
    page.context.add_cookies(cast(Any, cookies))
    return page
