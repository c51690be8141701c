"""The sessions and users pages of the dashboard, fed through the real ingestion API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.conftest import ProjectKeys
from tests.dashboard import DashboardClient, make_user, sign_in, signed_in
from tests.factories import T0, generation_event, iso, new_id, score_event, trace_event
from web.charts import bucket_starts
from web.content import JsonPart, TextPart
from web.filters import elapsed
from web.pages.people import per_bucket, usage_charts
from web.pages.sessions import said
from web.queries.people import UsagePoint
from web.timerange import TimeRange


def ingest(client: TestClient, project: ProjectKeys, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 500):
        response = client.post(
            "/api/public/ingestion",
            json={"batch": events[start : start + 500]},
            headers=project.headers,
        )
        assert response.status_code == 207, response.text
        assert response.json()["errors"] == []


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def turn_of(
    trace_id: str,
    at: datetime,
    *,
    session: str | None,
    user: str | None = None,
    cost: float | None = None,
    tokens: tuple[int, int] = (100, 20),
    error: bool = False,
    **fields: Any,
) -> list[dict[str, Any]]:
    """A trace and one generation in it (with a cost when `cost` is given)."""
    body: dict[str, Any] = {"timestamp": iso(at), "name": "chat", **fields}
    if session is not None:
        body["sessionId"] = session
    if user is not None:
        body["userId"] = user
    # A model without a price, so that only `cost` gives the trace a cost.
    extra: dict[str, Any] = {
        "model": "house-model-without-a-price",
        "usageDetails": {"input": tokens[0], "output": tokens[1]},
    }
    if cost is not None:
        extra["costDetails"] = {"total": cost}
    if error:
        extra["level"] = "ERROR"
    return [
        trace_event(trace_id, **body),
        generation_event(new_id(), trace_id, start=at, seconds=0.5, **extra),
    ]


def text_of(node: Tag | None) -> str:
    assert node is not None
    return node.get_text(" ", strip=True)


def cell(row: Tag, column: str) -> str:
    return text_of(row.select_one(f'[data-col="{column}"]'))


def stat(page: BeautifulSoup, name: str) -> str:
    return text_of(page.select_one(f'[data-stat="{name}"]'))


class TestSessionsList:
    def test_each_session_shows_its_trace_count_and_cost_newest_first(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        events = []
        for i in range(3):
            events += turn_of(new_id(), T0 + timedelta(minutes=i), session="paid", cost=0.001)
        for i in range(2):
            events += turn_of(new_id(), T0 + timedelta(hours=1, minutes=i), session="free")
        events += turn_of(new_id(), T0 + timedelta(hours=2), session=None)
        ingest(client, project, events)
        browser = signed_in(client, engine, project)

        response = browser.get(f"/project/{project.id}/sessions")

        assert response.status_code == 200
        rows = soup(response.text).select("tr.session-row")
        assert [r["data-session-id"] for r in rows] == ["free", "paid"]
        assert cell(rows[0], "traces") == "2" and cell(rows[0], "cost") == "—"
        assert cell(rows[1], "traces") == "3" and cell(rows[1], "cost") == "$0.003"

    def test_sessions_come_in_pages_without_duplicates(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        events = []
        for i in range(60):
            events.append(
                trace_event(new_id(), timestamp=iso(T0 + timedelta(minutes=i)), sessionId=f"s{i}")
            )
        # s0 is active again last: it leads page one and must not come back on a later page.
        events.append(trace_event(new_id(), timestamp=iso(T0 + timedelta(hours=3)), sessionId="s0"))
        ingest(client, project, events)
        browser = signed_in(client, engine, project)

        first = browser.get(f"/project/{project.id}/sessions?limit=25")
        page = soup(first.text)
        seen = [str(r["data-session-id"]) for r in page.select("tr.session-row")]
        assert len(seen) == 25
        more = page.select_one("tr.load-more a")
        url = str(more["hx-get"]) if more else None
        while url:
            fragment = browser.htmx("GET", url)
            assert fragment.status_code == 200
            assert "<html" not in fragment.text
            part = soup(fragment.text)
            seen += [str(r["data-session-id"]) for r in part.select("tr.session-row")]
            more = part.select_one("tr.load-more a")
            url = str(more["hx-get"]) if more else None

        assert seen[0] == "s0"
        assert len(seen) == 60 and len(set(seen)) == 60
        assert seen[1:] == [f"s{i}" for i in range(59, 0, -1)]

    def test_page_size_is_capped(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        events = [trace_event(new_id(), sessionId=f"s{i}") for i in range(3)]
        ingest(client, project, events)
        browser = signed_in(client, engine, project)
        for limit in ("1000", "nonsense", "-4"):
            response = browser.get(f"/project/{project.id}/sessions?limit={limit}")
            assert response.status_code == 200
        page = soup(browser.get(f"/project/{project.id}/sessions?limit=2").text)
        assert len(page.select("tr.session-row")) == 2
        assert page.select_one("tr.load-more a") is not None

    def test_search_user_and_range_filters_narrow_the_list(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        now = datetime.now(UTC)
        events = [
            trace_event(new_id(), timestamp=iso(now), sessionId="chat-1", userId="ann"),
            trace_event(new_id(), timestamp=iso(now), sessionId="chat-2", userId="bob"),
            trace_event(new_id(), timestamp=iso(now - timedelta(days=3)), sessionId="old-1"),
            trace_event(new_id(), timestamp=iso(now), sessionId="chat_%", userId="bob"),
        ]
        ingest(client, project, events)
        browser = signed_in(client, engine, project)
        base = f"/project/{project.id}/sessions"

        def listed(query: str) -> list[str]:
            page = soup(browser.get(f"{base}?{query}").text)
            return sorted(str(r["data-session-id"]) for r in page.select("tr.session-row"))

        assert listed("q=chat") == ["chat-1", "chat-2", "chat_%"]
        assert listed("q=chat_") == ["chat_%"]
        assert listed("q=CHAT-") == ["chat-1", "chat-2"]
        assert listed("user=bob") == ["chat-2", "chat_%"]
        assert listed("range=24h") == ["chat-1", "chat-2", "chat_%"]
        assert listed("range=7d&q=old") == ["old-1"]
        empty = soup(browser.get(f"{base}?q=nothing-like-this").text)
        assert "No sessions match" in text_of(empty.select_one(".empty-state"))

    def test_an_empty_project_explains_where_sessions_come_from(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project)
        page = soup(browser.get(f"/project/{project.id}/sessions").text)
        hint = text_of(page.select_one(".empty-state"))
        assert "session_id" in hint and "sessionId" in hint
        assert page.select_one("table") is None


def conversation(session_id: str, trace_ids: list[str]) -> list[dict[str, Any]]:
    events = turn_of(
        trace_ids[0],
        T0,
        session=session_id,
        user="ann",
        cost=0.002,
        tokens=(100, 10),
        input=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        output={"role": "assistant", "content": "Paris."},
    )
    events += turn_of(
        trace_ids[1],
        T0 + timedelta(minutes=1),
        session=session_id,
        user="ann",
        tokens=(200, 20),
        input="And of Italy?",
        output="Rome.",
    )
    events += turn_of(
        trace_ids[2],
        T0 + timedelta(minutes=3),
        session=session_id,
        user="bob",
        cost=0.004,
        tokens=(300, 30),
        input={"question": "weather", "city": "Oslo"},
        output=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "Cold and clear."},
        ],
        error=True,
    )
    return events


class TestSessionPage:
    def test_turns_are_in_order_with_their_input_output_and_totals(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ids = [f"t/{i}-{new_id()}" for i in range(3)]
        events = conversation("conv/1", ids)
        events.append(score_event(new_id(), sessionId="conv/1", name="helpful", value=0.75))
        events.append(score_event(new_id(), trace_id=ids[0], name="correct", value=1.0))
        ingest(client, project, events)
        browser = signed_in(client, engine, project)

        response = browser.get(f"/project/{project.id}/sessions/{quote('conv/1', safe='')}")

        assert response.status_code == 200, response.text
        page = soup(response.text)
        assert text_of(page.select_one("#session-id")) == "conv/1"
        turns = page.select("article.turn")
        assert [t["data-trace-id"] for t in turns] == ids
        first_in, first_out = turns[0].select(".said-input"), turns[0].select(".said-output")
        assert "What is the capital of France?" in text_of(first_in[0])
        assert "You are terse." not in text_of(first_in[0])
        assert "Paris." in text_of(first_out[0])
        assert "And of Italy?" in text_of(turns[1].select_one(".said-input"))
        assert "Rome." in text_of(turns[1].select_one(".said-output"))
        assert "Oslo" in text_of(turns[2].select_one(".said-input details"))
        assert "Cold and clear." in text_of(turns[2].select_one(".said-output"))
        link = turns[0].select_one("a.turn-name")
        assert link is not None
        assert link["href"] == f"/project/{project.id}/traces/{quote(ids[0], safe='')}"
        assert "correct" in text_of(turns[0].select_one(".chips"))
        assert "has-error" in (turns[2].get("class") or [])

        assert stat(page, "traces") == "3"
        assert stat(page, "input-tokens") == "600"
        assert stat(page, "output-tokens") == "60"
        assert stat(page, "cost") == "$0.006"
        assert stat(page, "errors") == "1"
        assert stat(page, "duration") == "3 min 0 s"
        assert stat(page, "users").split() == ["ann", "bob"]
        assert "helpful" in text_of(page.select_one("#session-scores"))

    def test_long_sessions_load_more_turns(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ids = [f"t{i:02d}" for i in range(5)]
        events = [
            trace_event(i, timestamp=iso(T0 + timedelta(seconds=n)), sessionId="long", input=i)
            for n, i in enumerate(ids)
        ]
        ingest(client, project, events)
        browser = signed_in(client, engine, project)

        page = soup(browser.get(f"/project/{project.id}/sessions/long?limit=2").text)
        seen = [str(t["data-trace-id"]) for t in page.select("article.turn")]
        more = page.select_one(".load-more a")
        while more is not None:
            part = soup(browser.htmx("GET", str(more["hx-get"])).text)
            assert part.select_one("#session-totals") is None
            seen += [str(t["data-trace-id"]) for t in part.select("article.turn")]
            more = part.select_one(".load-more a")

        assert seen == ids
        assert stat(page, "traces") == "5"

    def test_an_unknown_session_is_a_404_page(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project)
        response = browser.get(f"/project/{project.id}/sessions/no-such-session")
        assert response.status_code == 404
        assert "Session not found" in text_of(soup(response.text).select_one("h1"))


class TestUsersList:
    def test_each_user_shows_their_totals_most_recent_first(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        events = []
        for i in range(3):
            events += turn_of(
                new_id(), T0 + timedelta(minutes=i), session=None, user="ann", cost=0.01
            )
        events += turn_of(new_id(), T0 + timedelta(hours=1), session=None, user="bob")
        events += turn_of(new_id(), T0 + timedelta(hours=2), session=None)
        ingest(client, project, events)
        browser = signed_in(client, engine, project)

        page = soup(browser.get(f"/project/{project.id}/users").text)

        rows = page.select("tr.user-row")
        assert [r["data-user-id"] for r in rows] == ["bob", "ann"]
        assert cell(rows[0], "traces") == "1" and cell(rows[0], "cost") == "—"
        assert cell(rows[1], "traces") == "3" and cell(rows[1], "cost") == "$0.03"
        assert cell(rows[1], "tokens") == "360"
        searched = soup(browser.get(f"/project/{project.id}/users?q=an").text)
        assert [r["data-user-id"] for r in searched.select("tr.user-row")] == ["ann"]

    def test_users_come_in_pages_without_duplicates(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        events = [
            trace_event(new_id(), timestamp=iso(T0 + timedelta(seconds=i)), userId=f"u{i % 30}")
            for i in range(90)
        ]
        ingest(client, project, events)
        browser = signed_in(client, engine, project)
        page = soup(browser.get(f"/project/{project.id}/users?limit=7").text)
        seen = [str(r["data-user-id"]) for r in page.select("tr.user-row")]
        more = page.select_one("tr.load-more a")
        while more is not None:
            part = soup(browser.htmx("GET", str(more["hx-get"])).text)
            seen += [str(r["data-user-id"]) for r in part.select("tr.user-row")]
            more = part.select_one("tr.load-more a")
        assert seen == [f"u{i}" for i in range(29, -1, -1)]

    def test_an_empty_project_explains_where_users_come_from(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project)
        page = soup(browser.get(f"/project/{project.id}/users").text)
        assert "userId" in text_of(page.select_one(".empty-state"))


def chart_data(page: BeautifulSoup, chart_id: str) -> dict[str, Any]:
    canvas = page.select_one(f"#chart-{chart_id} .chart-canvas")
    assert canvas is not None, f"no drawn chart {chart_id}"
    data: dict[str, Any] = json.loads(str(canvas["data-chart"]))
    return data


def series_sum(chart: dict[str, Any], index: int = 0) -> float:
    return float(sum(v for v in chart["series"][index]["values"] if v is not None))


class TestUserPage:
    def test_totals_and_charts_agree(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        user = "user/17"
        events = []
        for day in range(4):
            at = now - timedelta(days=day * 5, hours=1)
            events += turn_of(
                new_id(), at, session=f"s{day % 2}", user=user, cost=0.01, tokens=(100, 10)
            )
        events += turn_of(new_id(), now - timedelta(hours=2), session=None, user=user)
        events += turn_of(new_id(), now - timedelta(days=60), session="s0", user=user, cost=5.0)
        ingest(client, project, events)
        browser = signed_in(client, engine, project)

        response = browser.get(f"/project/{project.id}/users/{quote(user, safe='')}")

        assert response.status_code == 200, response.text
        page = soup(response.text)
        assert text_of(page.select_one("#user-id")) == user
        assert stat(page, "traces") == "5"
        assert stat(page, "sessions") == "2"
        assert stat(page, "input-tokens") == "500"
        assert stat(page, "output-tokens") == "60"
        assert stat(page, "cost") == "$0.04"
        traces = chart_data(page, "user-traces")
        tokens = chart_data(page, "user-tokens")
        cost = chart_data(page, "user-cost")
        assert series_sum(traces) == 5
        assert series_sum(tokens, 0) == 500 and series_sum(tokens, 1) == 60
        assert series_sum(cost) == pytest.approx(0.04)
        assert traces["link"] == (
            f"/project/{project.id}/traces?user={quote(user, safe='')}"
            "&range=custom&from={from}&to={to}"
        )
        assert len(page.select("#user-sessions tr.session-row")) == 2
        assert len(page.select("#user-traces tr.trace-row")) == 5

        everything = soup(browser.get(f"/project/{project.id}/users/{quote(user)}?range=all").text)
        assert stat(everything, "traces") == "6"
        assert series_sum(chart_data(everything, "user-cost")) == pytest.approx(5.04)

    def test_the_traces_of_a_user_load_in_pages(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ids = [f"t{i:02d}" for i in range(7)]
        events = [
            trace_event(t, timestamp=iso(T0 + timedelta(minutes=n)), userId="ann")
            for n, t in enumerate(ids)
        ]
        ingest(client, project, events)
        browser = signed_in(client, engine, project)
        page = soup(browser.get(f"/project/{project.id}/users/ann?range=all&limit=3").text)
        seen = [str(r["data-trace-id"]) for r in page.select("tr.trace-row")]
        more = page.select_one("#user-traces tr.load-more a")
        while more is not None:
            part = soup(browser.htmx("GET", str(more["hx-get"])).text)
            assert part.select_one("#user-charts") is None
            seen += [str(r["data-trace-id"]) for r in part.select("tr.trace-row")]
            more = part.select_one("tr.load-more a")
        assert seen == ids[::-1]

    def test_a_user_with_nothing_in_the_range_still_has_a_page(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(client, project, [trace_event(new_id(), timestamp=iso(T0), userId="ann")])
        browser = signed_in(client, engine, project)
        response = browser.get(f"/project/{project.id}/users/ann?range=1h")
        assert response.status_code == 200
        page = soup(response.text)
        assert stat(page, "traces") == "0"
        assert page.select(".chart-empty")

    def test_an_unknown_user_is_a_404_page(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project)
        response = browser.get(f"/project/{project.id}/users/nobody")
        assert response.status_code == 404
        assert "User not found" in text_of(soup(response.text).select_one("h1"))


def pages(project: ProjectKeys) -> list[str]:
    base = f"/project/{project.id}"
    return [f"{base}/sessions", f"{base}/sessions/s1", f"{base}/users", f"{base}/users/u1"]


class TestAccess:
    def test_a_viewer_can_see_every_page(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(client, project, [trace_event(new_id(), sessionId="s1", userId="u1")])
        viewer = signed_in(client, engine, project, role="viewer")
        for url in pages(project):
            assert viewer.get(url).status_code == 200, url

    def test_a_non_member_is_refused(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(client, project, [trace_event(new_id(), sessionId="s1", userId="u1")])
        stranger = sign_in(client, make_user(engine, None))
        for url in pages(project):
            assert stranger.get(url).status_code == 403, url

    def test_anonymous_visitors_are_sent_to_sign_in(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        anonymous = DashboardClient(client.app, follow_redirects=False)
        for url in pages(project):
            response = anonymous.get(url)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?next=")


HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


class TestHostileText:
    def test_ids_names_input_and_output_come_back_escaped(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        events = turn_of(
            "t-" + HOSTILE,
            T0,
            session="s-" + HOSTILE,
            user="u-" + HOSTILE,
            name="n-" + HOSTILE,
            input=[{"role": "user", "content": "i-" + HOSTILE}],
            output="o-" + HOSTILE,
        )
        ingest(client, project, events)
        browser = signed_in(client, engine, project)
        base = f"/project/{project.id}"
        urls = [
            f"{base}/sessions",
            f"{base}/sessions/{quote('s-' + HOSTILE, safe='')}",
            f"{base}/users",
            f"{base}/users/{quote('u-' + HOSTILE, safe='')}?range=all",
        ]
        for url in urls:
            response = browser.get(url)
            assert response.status_code == 200, url
            page = soup(response.text)
            assert not page.select("main script"), url
            assert not page.select("main img"), url
            assert "<script>alert(1)" not in response.text, url
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text, url

        session_page = soup(browser.get(urls[1]).text)
        turn = session_page.select_one("article.turn")
        assert turn is not None
        assert "i-" + HOSTILE in text_of(turn.select_one(".said-input"))
        assert "o-" + HOSTILE in text_of(turn.select_one(".said-output"))
        assert "n-" + HOSTILE in text_of(turn.select_one(".turn-name"))


class TestSessionUsersColumn:
    def test_a_session_lists_three_users_and_counts_the_rest(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        events = [
            trace_event(
                new_id(), timestamp=iso(T0 + timedelta(minutes=i)), sessionId="s", userId=f"u{i}"
            )
            for i in range(5)
        ]
        ingest(client, project, events)
        browser = signed_in(client, engine, project)
        row = soup(browser.get(f"/project/{project.id}/sessions").text).select_one("tr.session-row")
        assert row is not None
        users = row.select_one(".users-cell")
        assert users is not None
        assert [a.get_text() for a in users.select("a")] == ["u0", "u1", "u2"]
        assert "+2 more" in text_of(users)


class TestWhatATurnShows:
    def test_the_last_user_message_of_a_chat_input(self) -> None:
        stored = json.dumps(
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "second"}]},
            ]
        )
        shown = said(stored, "user")
        assert shown is not None and shown.role == "user"
        assert [p.text.head for p in shown.parts if isinstance(p, TextPart)] == ["second"]
        assert shown.note == "(last of 4 messages)"

    def test_text_json_invalid_json_and_nothing(self) -> None:
        text = said(json.dumps("plain words"), "user")
        assert text is not None and isinstance(text.parts[0], TextPart)
        data = said(json.dumps({"city": "Oslo"}), "user")
        assert data is not None and isinstance(data.parts[0], JsonPart)
        broken = said("{not json", "assistant")
        assert broken is not None and broken.parts[0].text.head == "{not json"
        assert said(None, "user") is None

    def test_a_completion_shows_the_assistant_message(self) -> None:
        stored = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Hi!"}}]})
        shown = said(stored, "assistant")
        assert shown is not None and shown.role_class == "assistant"
        assert shown.parts[0].text.head == "Hi!"


class TestUsageBuckets:
    def test_buckets_sum_what_falls_in_them_and_unknown_stays_unknown(self) -> None:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        points = [
            UsagePoint(start + timedelta(minutes=1), 10, 1, 0.5),
            UsagePoint(start + timedelta(minutes=2), 20, 2, None),
            UsagePoint(start + timedelta(hours=2), None, None, None),
        ]
        xs = bucket_starts(start, start + timedelta(hours=3), 3600)
        sums = per_bucket(points, xs, 3600)
        assert [sums["traces"][x] for x in xs] == [2, 0, 1, 0]
        assert [sums["input"][x] for x in xs] == [30, 0, None, 0]
        assert [sums["cost"][x] for x in xs] == [0.5, 0, None, 0]

    def test_no_traces_means_no_data(self) -> None:
        window = TimeRange("24h", datetime.now(UTC) - timedelta(hours=24), None)
        charts = usage_charts([], window, "/x", datetime.now(UTC))
        assert all(chart.empty for chart in charts)


class TestElapsed:
    @pytest.mark.parametrize(
        ("ms", "text"),
        [
            (None, "—"),
            (1500, "1.50 s"),
            (180_000, "3 min 0 s"),
            (2 * 3600_000 + 5 * 60_000, "2 h 5 min"),
            (3 * 86400_000 + 4 * 3600_000, "3 d 4 h"),
        ],
    )
    def test_a_span_shows_its_two_largest_units(self, ms: float | None, text: str) -> None:
        assert elapsed(ms) == text
