"""The dashboard pages in a real browser (both databases): the traces list with its filters,
search and live refresh, a trace's tree, waterfall and panel, a session, a user and metrics.

The data goes in once per module through the live server's ingestion API, into projects of
this module's own (one per concern, so no test sees another's rows); one owner signs in once
and every test's page reuses the cookies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Cookie, FloatRect, Locator, Page, Position, expect
from sqlalchemy import Engine

from tests.browser.conftest import (
    add_member,
    ingest,
    session_cookies,
    shot,
    use_cookies,
)
from tests.conftest import ProjectKeys, make_project
from tests.dashboard import make_user
from tests.factories import generation_event, iso, new_id, score_event, span_event, trace_event

JAPANESE = "東京の天気を教えてください"
LIVE_WAIT_MS = 12_000


# --- data ---------------------------------------------------------------------------------


@dataclass
class ListTrace:
    id: str
    user: str | None
    input: str
    error: bool = False


@dataclass
class Detail:
    trace_id: str
    root: str
    plan: str
    search: str
    answer: str


@dataclass
class World:
    """One owner, signed in once, and the projects this module's tests look at."""

    cookies: list[Cookie]
    listed: ProjectKeys  # eight traces: filters, search, the user page and metrics
    traces: list[ListTrace]
    live: ProjectKeys  # empty until the live-refresh test sends its trace
    detail: ProjectKeys  # one trace with a tree, and one session of three traces
    tree: Detail
    session_id: str
    session_traces: list[str]  # in time order


def minutes_ago(now: datetime, minutes: float) -> datetime:
    return now - timedelta(minutes=minutes)


def list_events(now: datetime) -> tuple[list[ListTrace], list[dict[str, Any]]]:
    """Eight traces of the last hour: four users and one without, one with an ERROR call."""
    plan = [
        ("alice", "How do I reset my password?", "Use the 'Forgot password' link.", 50),
        ("alice", "Summarise the quarterly report", "Revenue grew 12%.", 45),
        ("bob", "Translate to French: good morning", "Bonjour", 40),
        ("bob", "Write a haiku about autumn", None, 35),  # the call fails
        ("carol", JAPANESE, "晴れです。", 30),
        ("carol", "List three prime numbers", "2, 3, 5", 25),
        ("dave", "What is the capital of Peru?", "Lima", 20),
        (None, "ping", "pong", 15),
    ]
    traces: list[ListTrace] = []
    events: list[dict[str, Any]] = []
    for number, (user, text, answer, ago) in enumerate(plan):
        trace_id = new_id()
        start = minutes_ago(now, ago)
        error = answer is None
        traces.append(ListTrace(trace_id, user, text, error))
        fields: dict[str, Any] = {"name": f"chat-{number}", "input": text, "tags": ["demo"]}
        if user:
            fields["userId"] = user
        if answer:
            fields["output"] = answer
        events.append(trace_event(trace_id, timestamp=iso(start), **fields))
        generation: dict[str, Any] = {
            "start": start,
            "seconds": 0.4 + number * 0.3,
            "model": "gpt-4o-mini",
            "input": [{"role": "user", "content": text}],
            "usageDetails": {"input": 100 + number * 10, "output": 20 + number},
            "costDetails": {"input": 0.0001 * (number + 1), "output": 0.0002},
        }
        if error:
            generation.update(level="ERROR", statusMessage="rate limited", output=None)
        else:
            generation["output"] = {"role": "assistant", "content": answer}
        events.append(generation_event(new_id(), trace_id, **generation))
    for trace, value in ((traces[0], 0.75), (traces[2], 0.25)):
        at = iso(minutes_ago(now, 10))
        events.append(
            score_event(new_id(), trace_id=trace.id, name="helpfulness", value=value, timestamp=at)
        )
    return traces, events


def detail_events(now: datetime) -> tuple[Detail, list[dict[str, Any]]]:
    """A root span with a planning generation, a tool call and a failing answer under it."""
    t0 = minutes_ago(now, 30)
    d = Detail(new_id(), new_id(), new_id(), new_id(), new_id())
    events = [
        trace_event(
            d.trace_id,
            timestamp=iso(t0),
            name="support-agent",
            userId="erin",
            input="Where is my refund?",
            output="It was sent on Monday.",
        ),
        span_event(d.root, d.trace_id, name="agent-run", start=t0, seconds=4.0),
        generation_event(
            d.plan,
            d.trace_id,
            name="plan",
            parentObservationId=d.root,
            start=t0 + timedelta(seconds=0.5),
            seconds=1.0,
            model="gpt-4o",
            modelParameters={"temperature": 0.3, "max_tokens": 256},
            input=[
                {"role": "system", "content": "You plan the steps of a support answer."},
                {"role": "user", "content": "Where is my refund for order 1234?"},
            ],
            output={"role": "assistant", "content": "Look the order up, then answer."},
            usageDetails={"input": 150, "output": 40},
            costDetails={"input": 0.0015, "output": 0.0008},
        ),
        span_event(
            d.search,
            d.trace_id,
            type_="tool-create",
            name="search-orders",
            parentObservationId=d.root,
            start=t0 + timedelta(seconds=1.6),
            seconds=0.4,
            input={"order": 1234},
            output={"refund": "sent on Monday"},
        ),
        generation_event(
            d.answer,
            d.trace_id,
            name="answer",
            parentObservationId=d.root,
            start=t0 + timedelta(seconds=2.2),
            seconds=1.5,
            model="gpt-4o",
            level="ERROR",
            statusMessage="upstream 503: the model is overloaded",
            output=None,
        ),
    ]
    return d, events


SESSION_TURNS = [
    ("Hi, my parcel has not arrived.", "Sorry to hear that! What is the order number?"),
    ("It is order 5521.", "Thanks, let me check order 5521."),
    ("Any news?", "It is out for delivery today."),
]


def session_events(now: datetime, session_id: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Three turns of one conversation, sent newest first (the page must sort them)."""
    ids = [new_id() for _ in SESSION_TURNS]
    events = []
    for number in reversed(range(len(SESSION_TURNS))):
        said, answer = SESSION_TURNS[number]
        at = minutes_ago(now, 20 - number * 2)
        # The first turn as chat messages, the others as plain text.
        given: Any = [{"role": "user", "content": said}] if number == 0 else said
        events.append(
            trace_event(
                ids[number],
                timestamp=iso(at),
                name=f"turn-{number + 1}",
                sessionId=session_id,
                userId="frank",
                input=given,
                output={"role": "assistant", "content": answer},
            )
        )
        events.append(
            generation_event(
                new_id(),
                ids[number],
                start=at,
                seconds=0.5,
                usageDetails={"input": 10, "output": 5},
                costDetails={"input": 0.001, "output": 0.002},
            )
        )
    return ids, events


@pytest.fixture(scope="module")
def world(engine: Engine, browser: Browser, live_url: str) -> Iterator[World]:
    now = datetime.now(UTC)
    listed, live, detail = make_project(engine), make_project(engine), make_project(engine)
    email = make_user(engine, listed, "owner")
    add_member(engine, live, email)
    add_member(engine, detail, email)

    traces, events = list_events(now)
    ingest(live_url, listed, events)
    tree, events = detail_events(now)
    session_id = f"chat-{new_id()[:6]}"
    session_traces, more = session_events(now, session_id)
    ingest(live_url, detail, events + more)

    yield World(
        cookies=session_cookies(browser, live_url, email),
        listed=listed,
        traces=traces,
        live=live,
        detail=detail,
        tree=tree,
        session_id=session_id,
        session_traces=session_traces,
    )


@pytest.fixture
def owner(page: Page, world: World) -> Page:
    """`page`, signed in as the owner of the module's projects."""
    return use_cookies(page, world.cookies)


# --- helpers ------------------------------------------------------------------------------


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def shown_rows(page: Page) -> Locator:
    return page.locator("#results tr.trace-row")


def expect_rows(page: Page, traces: list[ListTrace]) -> None:
    """The list shows exactly these traces, newest first (`traces` is oldest first)."""
    want = [t.id for t in reversed(traces)]
    expect(shown_rows(page)).to_have_count(len(want))
    assert [
        shown_rows(page).nth(i).get_attribute("data-trace-id") for i in range(len(want))
    ] == want


def mark_page(page: Page) -> None:
    """A variable that a full page load would drop and an HTMX swap keeps."""
    page.evaluate("window.__marker = 'no reload'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__marker") == "no reload", "the page was reloaded"


def drawn_charts(page: Page) -> Locator:
    return page.locator('.chart-canvas[data-drawn="1"]')


def assert_charts_drawn(page: Page, at_least: int) -> int:
    charts = drawn_charts(page)
    expect(charts.nth(at_least - 1)).to_be_visible()
    count = charts.count()
    for i in range(count):
        box = charts.nth(i).locator("canvas").first.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0, (i, box)
    return count


def point_position(chart: Locator, series: int = 0) -> tuple[float, Position]:
    """The newest bucket with a value above 0 in `series`: its value, and where it is drawn
    inside the plot area (uPlot's x scale runs from the first bucket to the last)."""
    spec = json.loads(chart.get_attribute("data-chart") or "{}")
    values = spec["series"][series]["values"]
    index = max(i for i, v in enumerate(values) if v)
    xs = spec["x"]
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    fraction = (xs[index] - xs[0]) / (xs[-1] - xs[0])
    # Not on the last pixel: uPlot takes a click there for the end of a drag and stops it.
    x = min(max(fraction * box["width"], 3), box["width"] - 3)
    return values[index], {"x": x, "y": box["height"] / 2}


# --- the traces list ----------------------------------------------------------------------


def test_traces_list_filter_search_and_errors_only(owner: Page, world: World) -> None:
    page, pid = owner, world.listed.id
    by_user = {t.user: [x for x in world.traces if x.user == t.user] for t in world.traces}
    page.goto(f"/project/{pid}/traces")
    expect_rows(page, world.traces)
    # Users link to their pages; the trace without one shows a dash.
    expect(page.locator("#results td.user a", has_text="alice")).to_have_count(2)
    expect(shown_rows(page).first.locator("td.user")).to_have_text("—")
    expect(page.locator("#results .error-mark")).to_have_count(1)
    shot(page, "all")

    # A user typed in the filter form: HTMX swaps the results and puts the filter in the URL.
    mark_page(page)
    form = page.locator("#trace-filters")
    form.get_by_label("User").fill("bob")
    form.get_by_label("User").press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]user=bob(&|$)"))
    expect_rows(page, by_user["bob"])
    expect(page.locator("#results .chip", has_text="User: bob")).to_be_visible()
    assert_not_reloaded(page)
    shot(page, "user-bob")

    # Search in input and output, in Japanese, with the user filter removed.
    form.get_by_label("User").fill("")
    form.get_by_label("Search input and output").fill("東京の天気")
    form.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"[?&]q="))
    assert query_of(page).get("q") == ["東京の天気"]
    assert "user" not in query_of(page)
    japanese = [t for t in world.traces if t.input == JAPANESE]
    expect_rows(page, japanese)
    expect(shown_rows(page).first).to_contain_text("carol")
    assert_not_reloaded(page)
    shot(page, "search-japanese")

    # Any case, a phrase from the middle of the text.
    form.get_by_label("Search input and output").fill("CAPITAL of peru")
    form.get_by_label("Search input and output").press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=CAPITAL"))
    expect_rows(page, [t for t in world.traces if "Peru" in t.input])
    # Nothing matches: the empty state says so instead of showing an empty table.
    form.get_by_label("Search input and output").fill("no such words anywhere")
    form.get_by_label("Search input and output").press("Enter")
    expect(page.get_by_role("heading", name="No traces match these filters")).to_be_visible()
    expect(shown_rows(page)).to_have_count(0)
    assert_not_reloaded(page)

    # "Clear filters" is a plain link: every trace is back and the URL has no filter.
    page.locator("#trace-filters").get_by_role("link", name="Clear filters").click()
    expect(page).to_have_url(re.compile(rf"/project/{pid}/traces$"))
    expect_rows(page, world.traces)
    expect(page.locator("#trace-filters").get_by_label("Search input and output")).to_have_value("")

    # "Errors only" applies at once: only the trace whose generation failed, marked red.
    mark_page(page)
    page.get_by_role("checkbox", name="Errors only").check()
    expect(page).to_have_url(re.compile(r"[?&]level=error(&|$)"))
    failed = [t for t in world.traces if t.error]
    expect_rows(page, failed)
    mark = shown_rows(page).first.locator(".error-mark")
    expect(mark).to_be_visible()
    expect(shown_rows(page).first).to_have_class(re.compile(r"\berror-row\b"))
    color = mark.evaluate("e => getComputedStyle(e).color")
    red, green, blue = (int(c) for c in re.findall(r"\d+", color)[:3])
    assert red > 150 and red > green + 60 and red > blue + 60, f"not red: {color}"
    assert_not_reloaded(page)
    shot(page, "errors-only")

    # The URL is the view: reloading it shows the same rows and the box still ticked.
    page.reload()
    expect_rows(page, failed)
    expect(page.get_by_role("checkbox", name="Errors only")).to_be_checked()


def test_live_refresh_shows_a_new_trace_without_reload(
    owner: Page, world: World, live_url: str
) -> None:
    page, project = owner, world.live
    page.goto(f"/project/{project.id}/traces")
    expect(page.get_by_role("heading", name="No traces yet")).to_be_visible()
    expect(page.locator("#results")).to_have_attribute("data-live", "on")
    expect(page.get_by_text("Live: new traces appear every 5 s")).to_be_visible()
    mark_page(page)
    shot(page, "empty")

    trace_id = new_id()
    ingest(
        live_url,
        project,
        [
            trace_event(
                trace_id,
                timestamp=iso(datetime.now(UTC)),
                name="arrived-while-watching",
                userId="grace",
            )
        ],
    )
    row = page.locator(f'#results tr.trace-row[data-trace-id="{trace_id}"]')
    expect(row).to_be_visible(timeout=LIVE_WAIT_MS)
    expect(row).to_contain_text("arrived-while-watching")
    expect(row).to_contain_text("grace")
    expect(page.get_by_role("heading", name="No traces yet")).to_have_count(0)
    assert_not_reloaded(page)
    shot(page, "arrived")


# --- a trace ------------------------------------------------------------------------------


def test_trace_detail_tree_timeline_panel_history_and_annotation(owner: Page, world: World) -> None:
    page, d = owner, world.tree
    trace_url = f"/project/{world.detail.id}/traces/{d.trace_id}"
    page.goto(trace_url)
    expect(page.locator("#trace-name")).to_have_text("support-agent")
    tree = page.locator("#tree")

    def row(node_id: str) -> Locator:
        return tree.locator(f'.tree-row[data-node-id="{node_id}"]')

    # Four nodes under the trace row, in time order, nested by depth.
    nodes = tree.locator(".tree-row:not(.trace-row)")
    expect(nodes).to_have_count(4)
    assert [nodes.nth(i).get_attribute("data-node-id") for i in range(4)] == [
        d.root,
        d.plan,
        d.search,
        d.answer,
    ]
    expect(row(d.root)).to_have_attribute("data-depth", "0")
    for child in (d.plan, d.search, d.answer):
        expect(row(child)).to_have_attribute("data-depth", "1")
        expect(row(child)).to_have_attribute("aria-level", "2")
    expect(row(d.plan)).to_contain_text("GENERATION")
    expect(row(d.search)).to_contain_text("TOOL")
    expect(row(d.answer).locator(".mark.bad")).to_have_text("error")
    expect(row(d.plan)).to_contain_text("gpt-4o")

    def box(locator: Locator) -> FloatRect:
        found = locator.bounding_box()
        assert found is not None, locator
        return found

    def left(locator: Locator) -> float:
        return box(locator)["x"]

    root_x = left(row(d.root).locator(".node-name"))
    for child in (d.plan, d.search, d.answer):
        assert left(row(child).locator(".node-name")) > root_x + 8, "children are not indented"

    # Every node has a bar on the waterfall; later observations start further right.
    starts = []
    for node_id in (d.root, d.plan, d.search, d.answer):
        bar = row(node_id).locator(".track .bar")
        expect(bar).to_be_visible()
        assert box(bar)["width"] > 0, node_id
        starts.append(box(bar)["x"])
    assert starts == sorted(starts) and len(set(starts)) == 4, starts
    # The root span covers the whole trace: its bar is the widest.
    assert box(row(d.root).locator(".bar"))["width"] > box(row(d.plan).locator(".bar"))["width"]
    shot(page, "tree")

    # Click the planning call: the panel shows it and the URL names it.
    mark_page(page)
    row(d.plan).locator(".node-link").click()
    panel = page.locator("#panel")
    expect(panel.locator("#panel-title")).to_have_text("plan")
    expect(page).to_have_url(re.compile(rf"\?observation={d.plan}$"))
    expect(panel.locator('[data-fact="model"]')).to_have_text("gpt-4o")
    usage = panel.locator("#panel-usage")
    expect(usage.locator("tr", has_text="input")).to_contain_text("150")
    expect(usage.locator("tr", has_text="output")).to_contain_text("40")
    expect(panel.locator('[data-fact="cost"]')).to_have_text("$0.0023")
    expect(panel.locator("#panel-params")).to_contain_text("temperature")
    turns = panel.locator(".io-input ol.chat > li.turn")
    expect(turns).to_have_count(2)
    expect(turns.nth(0).locator(".role")).to_have_text("system")
    expect(turns.nth(0)).to_contain_text("You plan the steps of a support answer.")
    expect(turns.nth(1).locator(".role")).to_have_text("user")
    expect(turns.nth(1)).to_contain_text("Where is my refund for order 1234?")
    expect(panel.locator(".io-output")).to_contain_text("Look the order up, then answer.")
    expect(row(d.plan)).to_have_attribute("aria-selected", "true")
    assert_not_reloaded(page)
    shot(page, "plan")

    # The failing call: its level and status message.
    row(d.answer).locator(".node-link").click()
    expect(panel.locator("#panel-title")).to_have_text("answer")
    expect(page).to_have_url(re.compile(rf"\?observation={d.answer}$"))
    status = panel.locator("#panel-status")
    expect(status).to_contain_text("ERROR")
    expect(status.locator(".status-message")).to_have_text("upstream 503: the model is overloaded")
    expect(row(d.answer)).to_have_attribute("aria-selected", "true")
    expect(row(d.plan)).not_to_have_attribute("aria-selected", "true")

    # Back: the planning call again, panel and selection alike.
    page.go_back()
    expect(page).to_have_url(re.compile(rf"\?observation={d.plan}$"))
    expect(panel.locator("#panel-title")).to_have_text("plan")
    expect(row(d.plan)).to_have_attribute("aria-selected", "true")
    expect(row(d.answer)).not_to_have_attribute("aria-selected", "true")
    # Back once more: the trace itself.
    page.go_back()
    expect(page).to_have_url(re.compile(rf"/traces/{d.trace_id}$"))
    expect(panel.locator(".panel-body")).to_have_attribute("data-panel-kind", "trace")
    expect(tree.locator(".tree-row.trace-row")).to_have_attribute("aria-selected", "true")
    shot(page, "back")

    # A deep link selects its node on first paint.
    page.goto(f"{trace_url}?observation={d.search}")
    expect(panel.locator("#panel-title")).to_have_text("search-orders")
    expect(row(d.search)).to_have_attribute("aria-selected", "true")
    expect(row(d.search)).to_have_class(re.compile(r"\bselected\b"))
    expect(panel.locator(".io-output")).to_contain_text("sent on Monday")

    # Annotate it as the owner: the score lands in the panel's table.
    mark_page(page)
    expect(panel.locator("#panel-scores")).to_contain_text("No scores yet.")
    form = panel.locator("#annotate-form")
    form.get_by_label("Name").fill("correctness")
    form.get_by_label("Type").select_option("NUMERIC")
    form.get_by_label("Value").fill("0.8")
    form.get_by_label("Comment").fill("found the right order")
    form.get_by_role("button", name="Add score").click()
    scored = panel.locator('#panel-scores tr[data-score-name="correctness"]')
    expect(scored).to_be_visible()
    expect(scored).to_contain_text("0.8")
    expect(scored).to_contain_text("ANNOTATION")
    expect(scored.locator(".comment")).to_have_text("found the right order")
    expect(scored).to_contain_text("you")
    expect(panel.get_by_role("status")).to_contain_text("Score “correctness” saved.")
    # Still the same node, and the form is empty for the next score.
    expect(panel.locator("#panel-title")).to_have_text("search-orders")
    expect(form.get_by_label("Name")).to_have_value("")
    assert_not_reloaded(page)
    shot(page, "scored")
    # The tree counts it after a reload.
    page.reload()
    expect(row(d.search).locator(".node-meta")).to_contain_text("1 ★")


# --- a session ----------------------------------------------------------------------------


def test_session_page_shows_the_conversation_in_order(owner: Page, world: World) -> None:
    page, pid = owner, world.detail.id
    page.goto(f"/project/{pid}/sessions")
    listed = page.locator(f'tr.session-row[data-session-id="{world.session_id}"]')
    expect(listed.locator('[data-col="traces"]')).to_have_text("3")
    listed.get_by_role("link", name=world.session_id).click()

    expect(page).to_have_url(re.compile(rf"/project/{pid}/sessions/{world.session_id}$"))
    expect(page.locator("#session-id")).to_have_text(world.session_id)
    turns = page.locator("#turns article.turn")
    expect(turns).to_have_count(3)
    assert [turns.nth(i).get_attribute("data-trace-id") for i in range(3)] == (world.session_traces)
    times = [turns.nth(i).locator("time").get_attribute("datetime") or "" for i in range(3)]
    assert times == sorted(times) and len(set(times)) == 3, times
    for number, (said, answer) in enumerate(SESSION_TURNS):
        turn = turns.nth(number)
        expect(turn.locator(".turn-name")).to_have_text(f"turn-{number + 1}")
        expect(turn.locator(".said-input")).to_contain_text(said)
        expect(turn.locator(".said-output")).to_contain_text(answer)
        expect(turn.locator(".said-output .role")).to_have_text("assistant")

    totals = page.locator("#session-totals")
    expect(totals.locator('[data-stat="traces"]')).to_have_text("3")
    expect(totals.locator('[data-stat="input-tokens"]')).to_have_text("30")
    expect(totals.locator('[data-stat="output-tokens"]')).to_have_text("15")
    expect(totals.locator('[data-stat="cost"]')).to_have_text("$0.009")
    expect(totals.locator('[data-stat="duration"]')).to_have_text("4 min 0 s")
    expect(totals.locator('[data-stat="users"]')).to_contain_text("frank")
    shot(page, "session")

    # A turn opens its trace.
    turns.nth(1).locator(".turn-name").click()
    expect(page).to_have_url(re.compile(rf"/traces/{world.session_traces[1]}$"))
    expect(page.locator("#trace-name")).to_have_text("turn-2")
    expect(page.locator("#trace-session")).to_have_text(world.session_id)


# --- a user -------------------------------------------------------------------------------


def test_user_page_charts_link_to_the_users_traces(owner: Page, world: World) -> None:
    page, pid = owner, world.listed.id
    alice = [t for t in world.traces if t.user == "alice"]
    page.goto(f"/project/{pid}/users")
    row = page.locator('tr.user-row[data-user-id="alice"]')
    expect(row.locator('[data-col="traces"]')).to_have_text("2")
    row.get_by_role("link", name="alice").click()

    expect(page.locator("#user-id")).to_have_text("alice")
    expect(page.locator('#user-totals [data-stat="traces"]')).to_have_text("2")
    assert assert_charts_drawn(page, 3) == 3
    expect(page.locator("#user-trace-rows tr.trace-row")).to_have_count(2)
    shot(page, "user")

    # Click the newest point with traces on the Traces chart: the traces list of that
    # period, for this user only.
    chart = page.locator("#chart-user-traces .chart-canvas")
    value, position = point_position(chart)
    over = chart.locator(".u-over")
    over.hover(position=position)
    over.click(position=position)
    expect(page).to_have_url(re.compile(r"/traces\?"))
    params = query_of(page)
    assert params.get("user") == ["alice"], page.url
    assert params.get("range") == ["custom"] and "from" in params and "to" in params
    rows = shown_rows(page)
    expect(rows).to_have_count(int(value))
    for i in range(rows.count()):
        assert rows.nth(i).get_attribute("data-trace-id") in {t.id for t in alice}
        expect(rows.nth(i).locator("td.user")).to_have_text("alice")
    expect(page.locator("#results .chip", has_text="User: alice")).to_be_visible()
    shot(page, "traces-of-the-point")


# --- metrics ------------------------------------------------------------------------------


def test_metrics_cards_and_charts(owner: Page, world: World) -> None:
    page, pid = owner, world.listed.id
    page.goto(f"/project/{pid}/metrics?range=24h")
    cards = page.locator("#cards")

    def card(metric: str) -> Locator:
        return cards.locator(f'[data-metric="{metric}"] .value')

    expect(card("traces")).to_have_text("8")
    expect(card("observations")).to_have_text("8")
    expect(card("generations")).to_have_text("8")
    expect(card("error_rate")).to_have_text("12.5%")
    expect(cards.locator('[data-metric="input_tokens"]')).to_have_text(
        f"{sum(range(100, 180, 10)):,}"
    )
    for metric in ("p50", "p95", "p99"):
        expect(cards.locator(f'[data-metric="{metric}"]')).to_have_text(re.compile(r"^\d"))
    expect(card("cost")).to_have_text(re.compile(r"^\$0\.\d+$"))
    expect(cards.locator('[data-metric="score"][data-score="helpfulness"] .value')).to_have_text(
        "0.50"
    )
    drawn = assert_charts_drawn(page, 4)
    assert drawn >= 4
    by_type = page.locator('#chart-cost-types .chart-canvas[data-drawn="1"] .u-legend')
    expect(by_type).to_contain_text("Input")
    expect(by_type).to_contain_text("Output")
    shot(page, "24h")

    # Hovering a point fills uPlot's legend with that bucket's time and value.
    chart = page.locator("#chart-traces .chart-canvas")
    legend_values = chart.locator(".u-legend .u-value")
    # Before: no time, no value (uPlot's "--" or charts.js's "—").
    expect(legend_values.nth(0)).to_have_text(re.compile(r"^(--|—)$"))
    expect(legend_values.nth(1)).to_have_text(re.compile(r"^(--|—)$"))
    value, position = point_position(chart)
    chart.locator(".u-over").hover(position=position)
    expect(legend_values.nth(0)).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    expect(legend_values.nth(1)).to_have_text(str(int(value)))
    shot(page, "hover")

    # Another range: the page says so and the charts are drawn again.
    page.locator(".range-presets").get_by_role("link", name="7d").click()
    expect(page).to_have_url(re.compile(r"[?&]range=7d(&|$)"))
    expect(page.locator(".range-presets a[aria-current=page]")).to_have_text("7d")
    expect(card("traces")).to_have_text("8")
    assert assert_charts_drawn(page, 4) == drawn
    shot(page, "7d")
