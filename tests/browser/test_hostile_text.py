"""Hostile text in every field a client can send, shown on every page: nothing executes.

Script tags, event-handler attributes, attribute break-outs (both quotes), `javascript:` URLs,
template syntax and `</script>` inside JSON go in through the real ingestion API (and through
the settings forms) on both databases. On every page the test asserts that no payload ran
(`window.__xss` stays undefined, no dialog opened, no JavaScript error), that no element the
payloads would create exists, and that the payload is on the page as text: dropping it would
also keep the scripts from running, so the text has to be there to prove it was escaped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Cookie, Dialog, Page, expect
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from server.db.models import Project
from server.users import queries as users
from tests.browser.conftest import JsErrors, ingest, session_cookies, shot, use_cookies
from tests.conftest import ProjectKeys, make_project
from tests.dashboard import PASSWORD, make_user
from tests.factories import event, generation_event, iso, new_id, span_event, trace_event

# Each payload bumps window.__xss (or opens a dialog) if it ever becomes markup or code.
SCRIPT = "<script>window.__xss=(window.__xss||0)+1</script>"
IMG = '<img src=x onerror="window.__xss=(window.__xss||0)+1">'
SVG = '"><svg onload=window.__xss=1>'
# Breaks out of a single-quoted attribute, such as the charts' data-chart='…'.
QUOTE = "'><img src=x onerror=alert(document.domain)>"
JS_URL = "javascript:window.__xss=1"
TEMPLATE = "{{7*7}} {% raw %} ${7*7}"
SCRIPT_END = "</script><script>window.__xss=1</script>"
# Text that every escaped payload shows, and that JSON display keeps (no quotes in it).
SCRIPT_TEXT = "<script>window.__xss=(window.__xss||0)+1</script>"
IMG_TEXT = "<img src=x onerror="
SVG_TEXT = "<svg onload=window.__xss=1>"
QUOTE_TEXT = "'><img src=x onerror=alert(document.domain)>"
END_TEXT = "</script><script>window.__xss=1</script>"
TEMPLATE_TEXT = "{{7*7}} {% raw %} ${7*7}"

INSPECT = """() => {
  const all = [...document.querySelectorAll("*")];
  const attrs = all.flatMap(e => [...e.attributes].map(a => [e.tagName.toLowerCase(), a.name, a.value]));
  const details = [...document.querySelectorAll("details")];
  return {
    xss: typeof window.__xss,
    payloadImages: document.querySelectorAll('img[src="x"], img[onerror]').length,
    payloadSvgs: document.querySelectorAll("svg[onload], svg").length,
    handlers: attrs.filter(([t, n, v]) => (n.startsWith("on") || n.startsWith("hx-on"))
                                         && v !== "this.parentElement.remove()"),
    jsUrls: attrs.filter(([t, n, v]) => ["href", "src", "action", "formaction", "hx-get", "hx-post"].includes(n)
                                       && /^\\s*javascript:/i.test(v)),
    scripts: [...document.scripts].filter(s => !s.src || /__xss|alert/.test(s.text)).map(s => s.outerHTML.slice(0, 120)),
    text: document.body.innerText,
    allText: document.documentElement.textContent,
    title: document.title,
  };
}"""


@dataclass
class Hostile:
    cookies: list[Cookie]
    project: ProjectKeys
    trace_a: str
    trace_b: str  # its id is hostile too
    nodes: list[str]  # trace A's observations
    session_id: str
    member_email: str


@dataclass
class Watch:
    """Dialogs a page opened: any at all means a payload ran."""

    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        def handle(dialog: Dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", handle)


def events(
    now: datetime, trace_a: str, trace_b: str, nodes: list[str], session_id: str
) -> list[Any]:
    t0 = now - timedelta(minutes=20)
    root, generation, tool, happening = nodes
    chat_in = [
        {"role": "system", "content": SCRIPT},
        {"role": "user", "content": IMG, "name": SVG},
        {"role": SCRIPT_END, "content": QUOTE},  # a role of its own
    ]
    chat_out = {
        "role": "assistant",
        "content": QUOTE,
        "tool_calls": [
            {
                "id": JS_URL,
                "type": "function",
                "function": {"name": SVG, "arguments": json.dumps({"html": SCRIPT_END})},
            }
        ],
    }
    return [
        trace_event(
            trace_a,
            timestamp=iso(t0),
            name=f"{SCRIPT} name",
            userId=IMG,
            sessionId=session_id,
            tags=[SCRIPT, IMG, JS_URL, TEMPLATE],
            environment=SCRIPT,  # not a valid environment name: stored as "default"
            release=QUOTE,
            version=TEMPLATE,
            metadata={SCRIPT: IMG, "end": SCRIPT_END, "template": TEMPLATE},
            input=chat_in,
            output=chat_out,
        ),
        span_event(
            root,
            trace_a,
            name=SVG,
            start=t0,
            seconds=3,
            input=SCRIPT,
            output={"html": IMG, "end": SCRIPT_END},
            metadata={IMG: SCRIPT},
            level="WARNING",
            statusMessage=QUOTE,
            version=SCRIPT_END,
        ),
        generation_event(
            generation,
            trace_a,
            name=IMG,
            parentObservationId=root,
            start=t0 + timedelta(seconds=0.5),
            seconds=1.5,
            model=f"m{QUOTE}",
            modelParameters={IMG: SCRIPT, "stop": [SCRIPT_END]},
            level="ERROR",
            statusMessage=SCRIPT,
            promptName=IMG,
            promptVersion=1,
            input=[
                {"role": "user", "content": SCRIPT},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": IMG, "arguments": json.dumps({"q": SCRIPT_END})},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": JS_URL, "content": SVG},
            ],
            output=f"{TEMPLATE} {SCRIPT_END}",
            usageDetails={"input": 10, "output": 5},
            costDetails={"input": 0.001, "output": 0.002},
        ),
        span_event(
            tool,
            trace_a,
            type_="tool-create",
            name=SCRIPT_END,
            parentObservationId=root,
            start=t0 + timedelta(seconds=2),
            seconds=0.5,
            input={"url": JS_URL, "html": IMG},
            output=TEMPLATE,
        ),
        span_event(
            happening,
            trace_a,
            type_="event-create",
            name=TEMPLATE,
            parentObservationId=root,
            start=t0 + timedelta(seconds=2.6),
            seconds=0,
            metadata={TEMPLATE: SVG},
        ),
        # Trace B: a hostile id, a `javascript:` user, plain-text input and JSON output.
        trace_event(
            trace_b,
            timestamp=iso(t0 + timedelta(minutes=1)),
            name=TEMPLATE,
            userId=JS_URL,
            sessionId=session_id,
            input=f"{SCRIPT_END} {IMG}",
            output={"html": IMG, "end": SCRIPT_END, "quote": QUOTE},
        ),
        generation_event(
            new_id(),
            trace_b,
            name=QUOTE,
            model=f"m{SCRIPT_END}",  # a second priced model: the cost chart gets a series each
            start=t0 + timedelta(minutes=1),
            costDetails={"input": 0.003},
        ),
        # Scores: a number, a category, one on an observation, one on the session.
        score(name=SCRIPT, value=0.5, comment=IMG, traceId=trace_a, at=now),
        score(
            name="label",
            value=SVG,
            dataType="CATEGORICAL",
            comment=QUOTE,
            traceId=trace_a,
            at=now,
        ),
        score(name=QUOTE, value=1, traceId=trace_a, observationId=generation, at=now),
        score(name=TEMPLATE, value=2, comment=SCRIPT_END, sessionId=session_id, at=now),
    ]


def score(*, at: datetime, **body: Any) -> dict[str, Any]:
    return event("score-create", {"id": new_id(), "timestamp": iso(at), **body}, at=at)


@pytest.fixture(scope="module")
def hostile(engine: Engine, browser: Browser, live_url: str) -> Iterator[Hostile]:
    now = datetime.now(UTC)
    project = make_project(engine, f"{SVG} {IMG} {uuid.uuid4().hex[:6]}")
    email = make_user(engine, project, "owner")
    # A member whose email and name are hostile (the email is still a valid address).
    member_email = f"<img/src=x/onerror=alert(1)>{uuid.uuid4().hex[:6]}@evil.example"
    with Session(engine) as session:
        member = users.create_user(session, member_email, PASSWORD, name=SCRIPT)
        row = session.get(Project, project.id)
        assert row is not None
        users.add_member(session, row, member, users.Role.VIEWER)
        session.commit()
    trace_a = new_id()
    trace_b = f"{SVG}{new_id()[:8]}"
    nodes = [f"{QUOTE}{new_id()[:6]}", new_id(), new_id(), new_id()]
    session_id = f"{SVG} session"
    ingest(live_url, project, events(now, trace_a, trace_b, nodes, session_id))
    yield Hostile(
        cookies=session_cookies(browser, live_url, email),
        project=project,
        trace_a=trace_a,
        trace_b=trace_b,
        nodes=nodes,
        session_id=session_id,
        member_email=member_email.lower(),
    )


@pytest.fixture
def owner(page: Page, hostile: Hostile) -> Iterator[tuple[Page, Watch]]:
    watch = Watch()
    watch.attach(page)
    yield use_cookies(page, hostile.cookies), watch


def assert_inert(page: Page, watch: Watch, *visible: str, anywhere: tuple[str, ...] = ()) -> None:
    """Nothing ran; `visible` is on screen as text, `anywhere` at least in the document text."""
    page.wait_for_load_state("load")
    state = page.evaluate(INSPECT)
    where = page.url
    assert state["xss"] == "undefined", f"a payload ran on {where}"
    assert watch.dialogs == [], f"a payload opened a dialog on {where}: {watch.dialogs}"
    assert state["payloadImages"] == 0, f"an <img> from a payload on {where}"
    assert state["payloadSvgs"] == 0, f"an <svg> from a payload on {where}"
    assert state["handlers"] == [], f"event handler attributes on {where}: {state['handlers']}"
    assert state["jsUrls"] == [], f"javascript: URLs on {where}: {state['jsUrls']}"
    assert state["scripts"] == [], f"inline scripts on {where}: {state['scripts']}"
    for text in visible:
        assert text in state["text"], f"{text!r} is not shown as text on {where}"
    for text in anywhere:
        assert text in state["allText"], f"{text!r} is not in the text of {where}"


# --- the traces list ----------------------------------------------------------------------


def test_traces_list(owner: tuple[Page, Watch], hostile: Hostile) -> None:
    page, watch = owner
    traces = f"/project/{hostile.project.id}/traces"
    page.goto(traces)
    expect(page.locator("tr.trace-row")).to_have_count(2)
    assert_inert(
        page,
        watch,
        f"{SCRIPT_TEXT} name",
        IMG,  # the user, as text
        JS_URL,
        f"{SVG} session",
        TEMPLATE_TEXT,  # trace B's name, not "49"
        f"label: {SVG}",  # a categorical score badge
    )
    row = page.locator(f'tr.trace-row[data-trace-id="{hostile.trace_a}"]')
    expect(row.locator(".tag")).to_have_text(sorted([SCRIPT, IMG, JS_URL, TEMPLATE]))
    expect(row.locator(".env")).to_have_text("default")
    # The project's hostile name in the header.
    expect(page.get_by_role("navigation", name="Project")).to_contain_text(f"{SVG} {IMG}")
    shot(page, "list")

    # Search for the payload in the search box (an HTMX swap), then filter by the user.
    form = page.locator("#trace-filters")
    form.get_by_label("Search input and output").fill("<script>window.__xss")
    form.get_by_label("Search input and output").press("Enter")
    expect(page.locator("#results .chip", has_text="Search: <script>window.__xss")).to_be_visible()
    expect(page.locator("tr.trace-row")).to_have_count(2)
    assert_inert(page, watch, "Search: <script>window.__xss", f"{SCRIPT_TEXT} name")
    shot(page, "search")
    form.get_by_label("Search input and output").fill(SCRIPT_END)
    form.get_by_label("User").fill(JS_URL)
    form.get_by_label("User").press("Enter")
    expect(page.locator("tr.trace-row")).to_have_count(1)
    expect(page.locator("tr.trace-row")).to_have_attribute("data-trace-id", hostile.trace_b)
    assert_inert(page, watch, f"User: {JS_URL}", f"Search: {END_TEXT}")

    # The same view loaded as a page: the form fields carry the payloads as values.
    page.goto(f"{traces}?q={quote(SCRIPT)}&user={quote(IMG)}&name={quote(SVG)}&tag={quote(QUOTE)}")
    expect(page.locator("#trace-filters").get_by_label("User")).to_have_value(IMG)
    expect(page.locator("#trace-filters").get_by_label("Search input and output")).to_have_value(
        SCRIPT
    )
    expect(page.locator("#trace-filters").get_by_label("Name")).to_have_value(SVG)
    assert_inert(page, watch, f"Search: {SCRIPT_TEXT}", f"User: {IMG}", f"Tag: {QUOTE_TEXT}")
    shot(page, "filters-in-url")


# --- a trace ------------------------------------------------------------------------------


def test_trace_detail_and_every_panel(owner: tuple[Page, Watch], hostile: Hostile) -> None:
    page, watch = owner
    root, generation, tool, happening = hostile.nodes
    page.goto(f"/project/{hostile.project.id}/traces")
    page.locator(f'tr.trace-row[data-trace-id="{hostile.trace_a}"] a.trace-link').click()
    expect(page.locator("#trace-name")).to_have_text(f"{SCRIPT} name")
    panel = page.locator("#panel")
    assert_inert(
        page,
        watch,
        f"{SCRIPT_TEXT} name",
        IMG,
        f"{SVG} session",
        QUOTE_TEXT,  # release
        TEMPLATE_TEXT,  # version and the event's name
        END_TEXT,  # the tool's name
        anywhere=(f'"{SCRIPT_TEXT}": "{IMG_TEXT}', '"end": "</script><script>'),  # metadata
    )
    expect(page.locator("#trace-facts .tag")).to_have_text(sorted([SCRIPT, IMG, JS_URL, TEMPLATE]))
    # The trace's own panel: the chat input, the tool call, the scores.
    turns = panel.locator(".io-input ol.chat > li.turn")
    expect(turns).to_have_count(3)
    expect(turns.nth(0)).to_contain_text(SCRIPT)
    expect(turns.nth(1).locator(".role")).to_contain_text(SVG)
    expect(turns.nth(2).locator(".role")).to_have_text(SCRIPT_END)
    call = panel.locator(".io-output .tool-call")
    expect(call.locator("code")).to_have_text(SVG)
    expect(call).to_contain_text(JS_URL)
    expect(call).to_contain_text('"html": "</script><script>window.__xss=1</script>"')
    expect(panel.locator('#panel-scores tr[data-score-name="label"]')).to_contain_text(SVG)
    expect(panel.locator(f"#panel-scores tr[data-score-name='{SCRIPT}']")).to_contain_text(IMG)
    shot(page, "trace")

    # Every node's panel, loaded by HTMX.
    expected = {
        root: (SVG, SCRIPT, QUOTE, '"html": "<img src=x onerror=\\"window'),
        generation: (IMG, f"m{QUOTE}", SCRIPT, TEMPLATE_TEXT, END_TEXT, JS_URL),
        tool: (SCRIPT_END, TEMPLATE_TEXT, JS_URL),
        happening: (TEMPLATE_TEXT,),
    }
    for node, texts in expected.items():
        page.locator(f'#tree .tree-row[data-node-id="{node}"] .node-link').click()
        expect(panel.locator(".panel-body")).to_have_attribute("data-selected-id", node)
        expect(panel.locator("#panel-title")).to_have_text(texts[0])
        for details in panel.locator("details:not([open])").all():
            details.evaluate("d => d.open = true")
        assert_inert(page, watch, *texts)
        shot(page, f"node-{list(expected).index(node)}")
    expect(panel.locator("#panel-status")).to_have_count(0)  # the event is at level DEFAULT

    # The generation's panel in full: parameters, error status, prompt, scores.
    page.locator(f'#tree .tree-row[data-node-id="{generation}"] .node-link').click()
    expect(panel.locator("#panel-status .status-message")).to_have_text(SCRIPT)
    expect(panel.locator("#panel-params")).to_contain_text(IMG)
    expect(panel.locator("#panel-params")).to_contain_text(SCRIPT_END)
    expect(panel.locator("[data-fact=prompt]")).to_contain_text(IMG)
    expect(panel.locator("[data-fact=model]")).to_have_text(f"m{QUOTE}")
    expect(panel.locator(f'#panel-scores tr[data-score-name="{QUOTE}"]')).to_be_visible()

    # Annotate with hostile text through the form (an HTMX post that re-renders the panel).
    form = panel.locator("#annotate-form")
    form.get_by_label("Name").fill(SVG)
    form.get_by_label("Type").select_option("CATEGORICAL")
    form.get_by_label("Value").fill(IMG)
    form.get_by_label("Comment").fill(SCRIPT)
    form.get_by_role("button", name="Add score").click()
    added = panel.locator("#panel-scores tr", has_text=f"{IMG}")
    expect(added.locator(".comment")).to_have_text(SCRIPT)
    expect(panel.get_by_role("status")).to_contain_text(f"Score “{SVG}” saved.")
    assert_inert(page, watch, SVG, SCRIPT_TEXT)
    shot(page, "annotated")

    # Back: HTMX restores the previous panels from its history snapshots.
    page.go_back()
    expect(panel.locator("#panel-title")).to_have_text(TEMPLATE)
    page.go_back()
    expect(panel.locator("#panel-title")).to_have_text(SCRIPT_END)
    assert_inert(page, watch, END_TEXT, TEMPLATE_TEXT)


def test_trace_with_a_hostile_id(owner: tuple[Page, Watch], hostile: Hostile) -> None:
    page, watch = owner
    page.goto(f"/project/{hostile.project.id}/traces")
    page.locator("tr.trace-row a.trace-link", has_text=TEMPLATE).click()
    expect(page.locator("#trace-name")).to_have_text(TEMPLATE)
    expect(page.locator(".crumbs code")).to_have_attribute("title", hostile.trace_b)
    panel = page.locator("#panel")
    expect(panel.locator(".io-input")).to_contain_text(f"{SCRIPT_END} {IMG}")
    assert_inert(page, watch, TEMPLATE_TEXT, f"{END_TEXT} {IMG}", JS_URL)
    # Its only observation, then the trace again, by the tree.
    page.locator("#tree .tree-row:not(.trace-row) .node-link").click()
    expect(panel.locator("#panel-title")).to_have_text(QUOTE)
    page.locator("#tree .tree-row.trace-row .node-link").click()
    expect(panel.locator(".panel-body")).to_have_attribute("data-panel-kind", "trace")
    assert_inert(page, watch, QUOTE_TEXT, TEMPLATE_TEXT)
    shot(page, "trace-b")


# --- sessions and users -------------------------------------------------------------------


def test_sessions_and_the_session_page(owner: tuple[Page, Watch], hostile: Hostile) -> None:
    page, watch = owner
    page.goto(f"/project/{hostile.project.id}/sessions")
    row = page.locator("tr.session-row")
    expect(row).to_have_count(1)
    expect(row.locator("[data-col=traces]")).to_have_text("2")
    assert_inert(page, watch, f"{SVG} session", IMG, JS_URL)
    shot(page, "sessions")

    row.get_by_role("link", name=f"{SVG} session").click()
    expect(page.locator("#session-id")).to_have_text(hostile.session_id)
    expect(page.locator("#turns article.turn")).to_have_count(2)
    assert_inert(
        page,
        watch,
        f"{SVG} session",
        f"{SCRIPT_TEXT} name",
        IMG,
        QUOTE_TEXT,
        TEMPLATE_TEXT,  # trace B's name and the session score's name
        f"{END_TEXT} {IMG}",
        anywhere=(JS_URL,),
    )
    expect(page.locator("#session-scores .chip")).to_have_attribute("title", SCRIPT_END)
    shot(page, "session")


def test_users_and_the_user_pages(owner: tuple[Page, Watch], hostile: Hostile) -> None:
    page, watch = owner
    page.goto(f"/project/{hostile.project.id}/users")
    expect(page.locator("tr.user-row")).to_have_count(2)
    assert_inert(page, watch, IMG, JS_URL)
    shot(page, "users")

    for user in (IMG, JS_URL):
        page.goto(f"/project/{hostile.project.id}/users")
        page.locator("tr.user-row td.id-cell a", has_text=user).click()
        expect(page.locator("#user-id")).to_have_text(user)
        expect(page.locator('.chart-canvas[data-drawn="1"] canvas')).to_have_count(3)
        assert_inert(page, watch, user, f"{SVG} session")
        # A chart links to the traces list with the user id quoted into the query string.
        spec = json.loads(page.locator(".chart-canvas").first.get_attribute("data-chart") or "")
        assert f"user={quote(user, safe='')}&" in spec["link"], spec["link"]
        shot(page, f"user-{user[:4]}")


# --- metrics ------------------------------------------------------------------------------


def test_metrics(owner: tuple[Page, Watch], hostile: Hostile) -> None:
    page, watch = owner
    page.goto(f"/project/{hostile.project.id}/metrics?range=24h")
    charts = page.locator('.chart-canvas[data-drawn="1"]')
    expect(charts.nth(3)).to_be_visible()
    # The cost chart has a series per model and the score chart one per score name: uPlot
    # writes the labels into its legend, where they must stay text.
    for chart_id, label in (("cost", f"m{QUOTE}"), ("cost", f"m{SCRIPT_END}"), ("scores", QUOTE)):
        chart = page.locator(f"#chart-{chart_id} .chart-canvas")
        expect(chart.locator(".u-legend")).to_contain_text(label)
        box = chart.locator(".u-over").bounding_box()
        assert box is not None
        chart.locator(".u-over").hover(position={"x": box["width"] - 4, "y": 10})
    expect(page.locator(f'#cards [data-metric="score"][data-score="{SCRIPT}"]')).to_be_visible()
    assert_inert(
        page,
        watch,
        f"m{QUOTE_TEXT}",  # by model
        IMG,  # by name, top users, by prompt
        SVG,
        END_TEXT,
        TEMPLATE_TEXT,
        JS_URL,
        f"Score · {SCRIPT_TEXT}",
    )
    shot(page, "metrics")


# --- settings -----------------------------------------------------------------------------


def test_settings_pages(owner: tuple[Page, Watch], hostile: Hostile, js_errors: JsErrors) -> None:
    page, watch = owner
    # HTMX logs the refused invitation's 400 answer; that one is expected.
    js_errors.allow(r"Response Status Error Code 400 from /project/[^/]+/settings/members\b")
    pid = hostile.project.id

    # A key whose note is hostile, created through the form.
    page.goto(f"/project/{pid}/settings/keys")
    page.get_by_label("Note").fill(f"{SCRIPT} {IMG}")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("new-public-key")).to_be_visible()
    assert_inert(page, watch, f"{SCRIPT_TEXT} {IMG}", f"{SVG} {IMG}")
    page.reload()
    assert_inert(page, watch, f"{SCRIPT_TEXT} {IMG}")
    shot(page, "keys")

    # Members: a hostile email and name; an invalid hostile email gets an error that quotes it.
    page.goto(f"/project/{pid}/settings/members")
    assert_inert(page, watch, hostile.member_email, SCRIPT_TEXT)
    form = page.locator("form", has=page.get_by_role("button", name="Add member"))
    form.evaluate("f => { f.noValidate = true; }")  # let the server see what the browser rejects
    form.get_by_label("Email").fill(f"{SCRIPT} {IMG}")
    form.get_by_role("button", name="Add member").click()
    expect(page.locator("#members [role=alert]")).to_contain_text("is not an email address")
    assert_inert(page, watch, "<script>window.__xss", hostile.member_email)
    shot(page, "members")
    # Adding a member repeats the project's name in the message.
    newcomer = f"<svg/onload=alert(1)>{uuid.uuid4().hex[:6]}@evil.example"
    form.evaluate("f => { f.noValidate = true; }")  # a new form, swapped in with the error
    form.get_by_label("Email").fill(newcomer)
    form.get_by_role("button", name="Add member").click()
    expect(page.get_by_test_id("invite-password")).to_be_visible()
    assert_inert(page, watch, f"{newcomer} is now member of {SVG} {IMG}")

    # Models: the hostile model name as seen, as a definition, and in the live preview.
    page.goto(f"/project/{pid}/settings/models")
    expect(page.locator("#seen-models")).to_contain_text(f"m{QUOTE}")
    model_form = page.locator("#model-form")
    model_form.get_by_label("Model name").fill(f"{SVG} model")
    model_form.get_by_label("Input", exact=True).fill("1")
    model_form.get_by_role("button", name="Save definition").click()
    expect(page.locator("#own-models")).to_contain_text(f"{SVG} model")
    model_form = page.locator("#model-form")
    model_form.get_by_label("Match pattern").fill("^m'")
    expect(page.get_by_test_id("preview-matches")).to_contain_text(f"m{QUOTE}")
    assert_inert(page, watch, f"{SVG} model", f"m{QUOTE_TEXT}")
    shot(page, "models")
