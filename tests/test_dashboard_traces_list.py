"""The traces list page: rows, filters, search, sorting, keyset pages, live refresh, safety.

Data goes in through the real ingestion API; pages are parsed and checked structurally.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.datastructures import QueryParams

from tests.conftest import ProjectKeys
from tests.dashboard import DashboardClient, signed_in
from tests.factories import generation_event, iso, new_id, score_event, span_event, trace_event
from web.pages.traces import (
    PAGE_SIZE,
    chips,
    format_score,
    number_text,
    parse_filters,
)
from web.queries import trace_list
from web.queries.trace_list import (
    Cursor,
    ScoreAverage,
    decode_cursor,
    encode_cursor,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def ingest(client: TestClient, project: ProjectKeys, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 400):
        response = client.post(
            "/api/public/ingestion",
            json={"batch": events[start : start + 400]},
            headers=project.headers,
        )
        assert response.status_code == 207, response.text
        assert response.json()["errors"] == []


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def trace(trace_id: str, minutes_ago: float, **fields: Any) -> dict[str, Any]:
    return trace_event(trace_id, timestamp=iso(ago(minutes_ago)), **fields)


def traces_url(project: ProjectKeys, query: str = "") -> str:
    return f"/project/{project.id}/traces" + (f"?{query}" if query else "")


def page(browser: DashboardClient, url: str) -> BeautifulSoup:
    response = browser.get(url)
    assert response.status_code == 200, response.text
    return BeautifulSoup(response.text, "html.parser")


def trace_rows(soup: BeautifulSoup) -> list[Tag]:
    return soup.select("tr.trace-row")


def row_ids(soup: BeautifulSoup) -> list[str]:
    return [str(row["data-trace-id"]) for row in trace_rows(soup)]


def row_of(soup: BeautifulSoup, trace_id: str) -> Tag:
    (row,) = [r for r in trace_rows(soup) if r["data-trace-id"] == trace_id]
    return row


def cell(row: Tag, name: str) -> str:
    found = row.select_one(f"td.{name}")
    assert found is not None
    return found.get_text(" ", strip=True)


def next_link(soup: BeautifulSoup) -> str | None:
    link = soup.select_one("a.load-more")
    return None if link is None else str(link["href"])


@pytest.fixture
def browser(client: TestClient, engine: Engine, project: ProjectKeys) -> DashboardClient:
    return signed_in(client, engine, project, role="viewer")


@dataclass
class Sample:
    """Five traces that differ in every filtered attribute."""

    chat: str
    search: str
    failed: str
    old: str
    bare: str

    @property
    def all(self) -> set[str]:
        return {self.chat, self.search, self.failed, self.old, self.bare}


@pytest.fixture
def sample(client: TestClient, project: ProjectKeys) -> Sample:
    s = Sample(new_id(), new_id(), new_id(), new_id(), new_id())
    start = ago(1)
    ingest(
        client,
        project,
        [
            trace(
                s.chat,
                1,
                name="chat",
                userId="alice",
                sessionId="s-1",
                tags=["prod", "beta"],
                environment="production",
                input={"question": "What is the weather in Paris?"},
            ),
            generation_event(
                new_id(),
                s.chat,
                start=start,
                seconds=3.0,
                model="gpt-4o",
                usageDetails={"input": 1200, "output": 345},
                costDetails={"total": 0.05},
            ),
            trace(s.search, 2, name="search", userId="bob", sessionId="s-2", tags=["dev"]),
            generation_event(
                new_id(),
                s.search,
                start=start,
                seconds=0.5,
                model="claude-3",
                usageDetails={"input": 10, "output": 5},
            ),
            trace(s.failed, 3, name="chat", userId="alice", environment="staging"),
            span_event(
                new_id(),
                s.failed,
                start=start,
                seconds=1.0,
                level="ERROR",
                statusMessage="boom",
                costDetails={"total": 0.001},
            ),
            trace(s.old, 60 * 24 * 10, name="old", tags=["prod"]),
            span_event(new_id(), s.old, start=ago(60 * 24 * 10), seconds=2.0),
            trace(s.bare, 4, name="bare"),
        ],
    )
    return s


class TestRows:
    def test_rows_show_latency_tokens_cost_and_error_mark(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        soup = page(browser, traces_url(project))
        assert set(row_ids(soup)) == sample.all
        chat = row_of(soup, sample.chat)
        assert cell(chat, "latency") == "3.00 s"
        assert cell(chat, "tokens") == "1,200 → 345"
        assert cell(chat, "cost") == "$0.05"
        assert "error-row" not in chat["class"]
        assert chat.select_one(".error-mark") is None
        assert cell(chat, "user") == "alice"
        assert "prod" in cell(chat, "name") and "production" in cell(chat, "name")

        failed = row_of(soup, sample.failed)
        assert "error-row" in failed["class"]
        mark = failed.select_one(".badge.bad.error-mark")
        assert mark is not None and mark.get_text(strip=True) == "error"
        assert cell(failed, "cost") == "$0.001"

        search = row_of(soup, sample.search)
        assert cell(search, "cost") == "—"  # unknown cost is not $0

        bare = row_of(soup, sample.bare)
        assert (cell(bare, "latency"), cell(bare, "tokens"), cell(bare, "cost")) == ("—",) * 3

    def test_rows_are_newest_first_with_utc_time_and_age_title(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        soup = page(browser, traces_url(project))
        assert row_ids(soup) == [sample.chat, sample.search, sample.failed, sample.bare, sample.old]
        time = row_of(soup, sample.chat).select_one("td.time time")
        assert time is not None
        assert time.get_text(strip=True) == ago(1).strftime("%Y-%m-%d %H:%M:%S")
        assert str(time["title"]).endswith("ago")
        assert soup.select_one("tr.list-foot .shown-count").get_text(strip=True) == "5 traces shown"  # type: ignore[union-attr]

    def test_name_user_and_session_link_to_their_pages_with_quoted_ids(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        trace_id = "run/42?x=1"
        ingest(client, project, [trace(trace_id, 1, name="n", userId="u/1", sessionId="s 1")])
        row = row_of(page(browser, traces_url(project)), trace_id)
        links = {a.get_text(strip=True): a["href"] for a in row.select("a")}
        base = f"/project/{project.id}"
        assert links["n"] == f"{base}/traces/{quote(trace_id, safe='')}"
        assert links["u/1"] == f"{base}/users/u%2F1"
        assert links["s 1"] == f"{base}/sessions/s%201"

    def test_scores_are_averaged_per_name(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        ingest(
            client,
            project,
            [
                score_event(new_id(), trace_id=sample.chat, name="quality", value=0.9),
                score_event(new_id(), trace_id=sample.chat, name="quality", value=0.74),
                score_event(new_id(), trace_id=sample.chat, name="helpful", value=1),
                score_event(
                    new_id(),
                    trace_id=sample.chat,
                    name="tone",
                    value="friendly",
                    dataType="CATEGORICAL",
                ),
                score_event(new_id(), trace_id=sample.search, name="quality", value=0.1),
            ],
        )
        soup = page(browser, traces_url(project))
        badges = [b.get_text(strip=True) for b in row_of(soup, sample.chat).select(".score")]
        assert badges == ["helpful: 1", "quality: 0.82", "tone: friendly"]
        search = [b.get_text(strip=True) for b in row_of(soup, sample.search).select(".score")]
        assert search == ["quality: 0.10"]
        assert row_of(soup, sample.bare).select(".score") == []


class TestFilters:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("user=alice", {"chat", "failed"}),
            ("session=s-2", {"search"}),
            ("name=chat", {"chat", "failed"}),
            ("tag=prod", {"chat", "old"}),
            ("tag=dev&tag=beta", {"chat", "search"}),
            ("tag=pro", set()),
            ("env=staging", {"failed"}),
            ("level=error", {"failed"}),
            ("model=claude-3", {"search"}),
            ("min_latency=900&max_latency=2500", {"failed", "old"}),
            ("min_latency=2500", {"chat"}),
            ("min_cost=0.01", {"chat"}),
            ("max_cost=0.01", {"failed"}),
            ("range=24h", {"chat", "search", "failed", "bare"}),
            ("range=7d&user=alice", {"chat", "failed"}),
            ("range=90d&name=old", {"old"}),
        ],
    )
    def test_each_filter_narrows_the_rows(
        self,
        browser: DashboardClient,
        project: ProjectKeys,
        sample: Sample,
        query: str,
        expected: set[str],
    ) -> None:
        soup = page(browser, traces_url(project, query))
        assert {getattr(sample, name) for name in expected} == set(row_ids(soup))

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("min_latency=900&max_latency=2500", {"failed", "old"}),
            ("min_cost=0.01&sort=latency", {"chat"}),
            ("max_latency=2500&sort=cost", {"failed", "search", "old"}),
        ],
    )
    def test_loose_latency_and_cost_ranges_give_the_same_rows(
        self,
        browser: DashboardClient,
        project: ProjectKeys,
        sample: Sample,
        monkeypatch: pytest.MonkeyPatch,
        query: str,
        expected: set[str],
    ) -> None:
        # Every range counts as loose: it is checked while walking the sort's index instead.
        monkeypatch.setattr(trace_list, "SELECTIVE_ROWS", 1)
        soup = page(browser, traces_url(project, query))
        assert {getattr(sample, name) for name in expected} == set(row_ids(soup))

    def test_custom_range_keeps_traces_between_from_and_to(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        start = (NOW - timedelta(days=11)).strftime("%Y-%m-%dT%H:%M")
        end = (NOW - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")
        soup = page(browser, traces_url(project, f"range=custom&from={start}&to={end}"))
        assert row_ids(soup) == [sample.old]
        assert [c.get_text(" ", strip=True) for c in soup.select(".chip > span")] == [
            f"From {start.replace('T', ' ')} to {end.replace('T', ' ')}"
        ]

    def test_active_filters_show_as_chips_that_each_remove_one_filter(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        soup = page(browser, traces_url(project, "user=alice&tag=prod&level=error&sort=cost"))
        chips_found = {
            c.select_one("span").get_text(strip=True): str(c.select_one("a")["href"])  # type: ignore[union-attr,index]
            for c in soup.select(".chip")
        }
        assert set(chips_found) == {"User: alice", "Tag: prod", "Errors only"}
        removed = parse_qs(urlsplit(chips_found["User: alice"]).query)
        assert removed == {"tag": ["prod"], "level": ["error"], "sort": ["cost"]}
        clear = soup.select_one(".chips a.clear")
        assert clear is not None and clear["href"] == f"/project/{project.id}/traces"

    def test_filters_that_match_nothing_say_so_and_offer_to_clear(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        soup = page(browser, traces_url(project, "user=nobody"))
        assert trace_rows(soup) == []
        empty = soup.select_one(".empty-state")
        assert empty is not None and "No traces match" in empty.get_text()
        assert empty.select_one("a.clear")["href"] == f"/project/{project.id}/traces"  # type: ignore[index]

    def test_the_form_shows_the_current_filters(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        soup = page(browser, traces_url(project, "user=alice&min_latency=100&level=error&q=paris"))
        form = soup.select_one("form#trace-filters")
        assert form is not None and form["method"] == "get"
        assert form["hx-get"] == f"/project/{project.id}/traces"
        assert form["hx-push-url"] == "true"
        assert form.select_one("input[name=user]")["value"] == "alice"  # type: ignore[index]
        assert form.select_one("input[name=min_latency]")["value"] == "100"  # type: ignore[index]
        assert form.select_one("input[name=level]").has_attr("checked")  # type: ignore[union-attr]
        assert form.select_one("input[name=q]")["value"] == "paris"  # type: ignore[index]

    def test_suggestions_list_recent_names_environments_and_models(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        soup = page(browser, traces_url(project))

        def options(list_id: str) -> list[str]:
            return [str(o["value"]) for o in soup.select(f"datalist#{list_id} option")]

        assert options("trace-names") == ["bare", "chat", "old", "search"]
        assert options("trace-environments") == ["default", "production", "staging"]
        assert options("trace-models") == ["claude-3", "gpt-4o"]


class TestSearch:
    @pytest.mark.parametrize(
        ("text", "term"),
        [
            ("今日の東京の天気は晴れです", "東京の天気"),
            ("Какая погода будет завтра?", "погода"),
            ("Hello Wonderful World", "WONDERFUL"),
            ("Hello Wonderful World", "wonderful world"),
        ],
    )
    def test_search_finds_a_trace_by_words_in_its_input(
        self,
        client: TestClient,
        browser: DashboardClient,
        project: ProjectKeys,
        text: str,
        term: str,
    ) -> None:
        wanted, other = new_id(), new_id()
        ingest(
            client,
            project,
            [
                trace(wanted, 1, name="hit", input={"messages": [{"content": text}]}),
                trace(other, 2, name="miss", input="nothing to see", output="here"),
            ],
        )
        soup = page(browser, traces_url(project, f"q={quote(term)}"))
        assert row_ids(soup) == [wanted]
        assert soup.select_one(".search-hint") is None

    def test_search_looks_at_output_too(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        wanted = new_id()
        ingest(client, project, [trace(wanted, 1, output="The answer is forty-two")])
        assert row_ids(page(browser, traces_url(project, "q=forty-two"))) == [wanted]

    def test_a_short_term_still_searches_and_warns_that_it_scans(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        wanted = new_id()
        ingest(client, project, [trace(wanted, 1, input="xq marks"), trace(new_id(), 2)])
        soup = page(browser, traces_url(project, "q=XQ"))
        assert row_ids(soup) == [wanted]
        hint = soup.select_one(".search-hint")
        assert hint is not None and "may be slow" in hint.get_text()


class TestSorting:
    def test_sort_by_latency_puts_slowest_first_and_unknown_last(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        soup = page(browser, traces_url(project, "sort=latency"))
        assert row_ids(soup) == [sample.chat, sample.old, sample.failed, sample.search, sample.bare]

    def test_sort_by_cost_puts_most_expensive_first_and_unknown_last(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        soup = page(browser, traces_url(project, "sort=cost"))
        ids = row_ids(soup)
        assert ids[:2] == [sample.chat, sample.failed]
        # Unknown cost (no rollup, or no priced observation): last, newest id first.
        assert ids[2:] == sorted([sample.search, sample.old, sample.bare], reverse=True)

    def test_sorted_views_do_not_refresh_themselves(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        for query in ("sort=latency", "sort=cost"):
            results = page(browser, traces_url(project, query)).select_one("#results")
            assert results is not None and not results.has_attr("hx-trigger")


def walk(browser: DashboardClient, first_url: str, *, htmx: bool) -> list[str]:
    """Follow "Load more" to the end; with htmx, fetch the appended fragments instead."""
    soup = page(browser, first_url)
    seen = row_ids(soup)
    url = next_link(soup)
    for _ in range(50):
        if url is None:
            return seen
        if htmx:
            response = browser.htmx("GET", url)
            assert response.status_code == 200
            assert "<html" not in response.text and 'id="results"' not in response.text
            soup = BeautifulSoup(response.text, "html.parser")
            assert soup.select_one("tr.list-foot") is not None
        else:
            soup = page(browser, url)
        seen += row_ids(soup)
        url = next_link(soup)
    raise AssertionError("pagination did not end")


class TestKeysetPages:
    @pytest.fixture
    def many(self, client: TestClient, project: ProjectKeys) -> list[str]:
        """120 traces: some sharing a timestamp, latency or cost; some without observations."""
        events: list[dict[str, Any]] = []
        ids = [f"t-{i:03d}" for i in range(120)]
        for i, trace_id in enumerate(ids):
            events.append(trace(trace_id, i // 3, name=f"n{i}"))
            if i % 5 == 4:
                continue  # no observations: no rollup at all
            cost = {"total": (i % 4) * 0.01} if i % 2 == 0 else None
            events.append(
                span_event(
                    f"o-{i}", trace_id, start=ago(i), seconds=(i % 7) * 0.25, costDetails=cost
                )
            )
        ingest(client, project, events)
        return ids

    @pytest.mark.parametrize("sort", ["time", "latency", "cost"])
    def test_pages_walk_through_every_trace_once(
        self, browser: DashboardClient, project: ProjectKeys, many: list[str], sort: str
    ) -> None:
        seen = walk(browser, traces_url(project, f"sort={sort}&limit=25"), htmx=False)
        assert len(seen) == len(set(seen)) == 120
        assert set(seen) == set(many)

    def test_load_more_appends_rows_and_counts_what_is_shown(
        self, browser: DashboardClient, project: ProjectKeys, many: list[str]
    ) -> None:
        seen = walk(browser, traces_url(project), htmx=True)
        assert len(seen) == len(set(seen)) == 120
        first = page(browser, traces_url(project))
        assert len(trace_rows(first)) == PAGE_SIZE
        more = browser.htmx("GET", next_link(first) or "")
        soup = BeautifulSoup(more.text, "html.parser")
        assert len(trace_rows(soup)) == PAGE_SIZE
        assert soup.select_one(".shown-count").get_text(strip=True) == "100 traces shown"  # type: ignore[union-attr]
        load_more = soup.select_one("a.load-more")
        assert load_more is not None
        assert load_more["hx-target"] == "closest tr" and load_more["hx-swap"] == "outerHTML"

    def test_newest_first_order_is_by_time_then_id(
        self, browser: DashboardClient, project: ProjectKeys, many: list[str]
    ) -> None:
        seen = walk(browser, traces_url(project, "limit=40"), htmx=False)
        # Traces i // 3 minutes old: groups of three share a timestamp, larger id first.
        expected = sorted(many, key=lambda t: (int(t[2:]) // 3, [-ord(c) for c in t]))
        assert seen == expected

    def test_limit_is_capped(
        self, browser: DashboardClient, project: ProjectKeys, many: list[str]
    ) -> None:
        assert len(trace_rows(page(browser, traces_url(project, "limit=5000")))) == 120
        assert len(trace_rows(page(browser, traces_url(project, "limit=7")))) == 7

    @pytest.mark.parametrize(
        "cursor",
        [
            "!!!not-base64",
            base64.urlsafe_b64encode(b"not json").decode(),
            base64.urlsafe_b64encode(b'{"s":"time","k":"yesterday","id":"x"}').decode(),
            base64.urlsafe_b64encode(b'{"s":"latency","k":1.5,"id":"x"}').decode(),
            base64.urlsafe_b64encode(b"[1,2]").decode(),
            "%00",
        ],
    )
    def test_a_malformed_cursor_shows_the_first_page(
        self, browser: DashboardClient, project: ProjectKeys, many: list[str], cursor: str
    ) -> None:
        soup = page(browser, traces_url(project, f"cursor={quote(cursor)}"))
        assert len(trace_rows(soup)) == PAGE_SIZE
        assert row_ids(soup)[0] == "t-002"
        assert any("not valid" in n.get_text() for n in soup.select(".note"))


class TestRobustness:
    def test_bad_numbers_are_ignored_with_a_note(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        query = "min_latency=fast&max_cost=1e999&min_cost=&limit=lots&range=forever&shown=x"
        soup = page(browser, traces_url(project, query))
        assert set(row_ids(soup)) == sample.all
        notes = " ".join(n.get_text() for n in soup.select(".note"))
        assert "minimum latency “fast”" in notes
        assert "maximum cost “1e999”" in notes
        assert "forever" in notes

    def test_htmx_request_gets_only_the_results_fragment(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        response = browser.htmx("GET", traces_url(project, "user=bob"))
        assert response.status_code == 200
        assert "<html" not in response.text
        soup = BeautifulSoup(response.text, "html.parser")
        (section,) = soup.find_all("section", recursive=False)
        assert section["id"] == "results"
        assert row_ids(soup) == [sample.search]
        assert "HX-Push-Url" not in response.headers

    def test_a_history_restore_gets_the_whole_page(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        response = browser.htmx(
            "GET", traces_url(project), headers={"HX-History-Restore-Request": "true"}
        )
        soup = BeautifulSoup(response.text, "html.parser")
        assert soup.select_one("form#trace-filters") is not None
        assert soup.select_one("#results") is not None

    def test_the_filter_form_pushes_a_clean_url(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        query = "range=all&name=&user=bob&session=&tag=&tag=dev&min_latency=&q=&sort=time"
        response = browser.htmx(
            "GET", traces_url(project, query), headers={"HX-Trigger": "trace-filters"}
        )
        assert response.headers["HX-Push-Url"] == traces_url(project, "user=bob&tag=dev")

    def test_viewer_of_another_project_is_refused(
        self,
        client: TestClient,
        engine: Engine,
        project: ProjectKeys,
        other_project: ProjectKeys,
        sample: Sample,
    ) -> None:
        outsider = signed_in(client, engine, other_project, role="viewer")
        response = outsider.get(traces_url(project))
        assert response.status_code == 403
        assert "chat" not in response.text

    def test_anonymous_request_is_sent_to_sign_in(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        response = client.get(traces_url(project, "user=a"), follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")

    def test_stored_markup_comes_back_escaped(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        script = "<script>alert(1)</script>"
        img = '<img src=x onerror="alert(2)">'
        trace_id = new_id()
        ingest(
            client,
            project,
            [
                trace(
                    trace_id,
                    1,
                    name=script,
                    userId=img,
                    sessionId=script,
                    tags=[img, script],
                    input={"text": f"findme {script} {img}"},
                ),
                score_event(new_id(), trace_id=trace_id, name=img, value=1),
            ],
        )
        response = browser.get(traces_url(project, "q=findme"))
        assert response.status_code == 200
        assert script not in response.text and "<img" not in response.text
        soup = BeautifulSoup(response.text, "html.parser")
        assert all(s.has_attr("src") for s in soup.find_all("script"))
        assert soup.find_all("img") == []
        row = row_of(soup, trace_id)
        assert cell(row, "user") == img
        assert script in cell(row, "name")
        assert row.select_one(".score").get_text(strip=True) == f"{img}: 1"  # type: ignore[union-attr]


class TestLiveRefresh:
    def test_first_page_by_time_polls_its_own_url(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        soup = page(browser, traces_url(project, "user=alice"))
        results = soup.select_one("#results")
        assert results is not None
        assert results["hx-trigger"] == "every 5s"
        assert results["hx-get"] == traces_url(project, "user=alice")
        assert results["data-live"] == "on"
        assert results.select_one("[data-live-toggle]") is not None

    def test_later_pages_do_not_poll(
        self, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        first = page(browser, traces_url(project, "limit=2"))
        later = page(browser, next_link(first) or "")
        results = later.select_one("#results")
        assert results is not None and not results.has_attr("hx-trigger")
        assert later.select_one("[data-live-toggle]") is None

    def test_a_new_trace_appears_on_the_next_poll(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys, sample: Sample
    ) -> None:
        results = page(browser, traces_url(project)).select_one("#results")
        assert results is not None
        fresh = new_id()
        ingest(client, project, [trace(fresh, 0, name="fresh")])
        polled = browser.htmx("GET", str(results["hx-get"]))
        assert row_ids(BeautifulSoup(polled.text, "html.parser"))[0] == fresh


class TestEmptyProject:
    def test_an_empty_project_explains_how_to_send_the_first_trace(
        self, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        soup = page(browser, traces_url(project))
        empty = soup.select_one(".empty-state.onboarding")
        assert empty is not None
        text = empty.get_text(" ", strip=True)
        assert "LANGFUSE_BASE_URL" in text and "get_client" in text
        assert "/api/public/otel/v1/traces" in text
        keys = empty.select_one(f'a[href="/project/{project.id}/settings/keys"]')
        assert keys is not None
        # It waits for the first trace by itself.
        assert soup.select_one("#results")["hx-trigger"] == "every 5s"  # type: ignore[index]


# --- pure functions -----------------------------------------------------------------------


class TestCursorCoding:
    @pytest.mark.parametrize(
        "cursor",
        [
            Cursor("time", datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "a/b"),
            Cursor("latency", 1234.5678, "x"),
            Cursor("cost", 0.1 + 0.2, "東京"),
            Cursor("cost", None, "zzz"),
        ],
    )
    def test_a_cursor_survives_the_round_trip(self, cursor: Cursor) -> None:
        text = encode_cursor(cursor)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", text)
        assert decode_cursor(text, cursor.sort) == cursor

    def test_a_cursor_for_another_sort_is_refused(self) -> None:
        text = encode_cursor(Cursor("latency", 1.0, "x"))
        assert decode_cursor(text, "cost") is None

    @pytest.mark.parametrize(
        "payload",
        [
            {"s": "cost", "k": "1", "id": "x"},
            {"s": "cost", "k": True, "id": "x"},
            {"s": "cost", "k": 1.0, "id": 5},
            {"s": "time", "k": None, "id": "x"},
        ],
    )
    def test_wrong_types_are_refused(self, payload: dict[str, Any]) -> None:
        text = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
        assert decode_cursor(text, payload["s"]) is None

    def test_nan_is_refused(self) -> None:
        text = base64.urlsafe_b64encode(b'{"s":"cost","k":NaN,"id":"x"}').decode()
        assert decode_cursor(text, "cost") is None


class TestTagFilter:
    def test_a_tag_matches_whole_elements_exactly(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        ingest(
            client,
            project,
            [
                trace("t-prod", 1, tags=["a", "prod", "b"]),
                trace("t-production", 2, tags=["production"]),
                trace("t-quote", 3, tags=['we"ird']),
                trace("t-commas", 4, tags=["a,", ",b"]),
                trace("t-case", 5, tags=["PROD"]),
                trace("t-none", 6),
            ],
        )

        def tagged(*tags: str) -> set[str]:
            query = "&".join(f"tag={quote(t)}" for t in tags)
            return set(row_ids(page(browser, traces_url(project, query))))

        assert tagged("prod") == {"t-prod"}
        assert tagged('we"ird') == {"t-quote"}
        assert tagged(",") == set()
        assert tagged("a,") == {"t-commas"}
        assert tagged("prod", "PROD") == {"t-prod", "t-case"}


class TestParseFilters:
    def test_defaults(self) -> None:
        form = parse_filters(QueryParams(""))
        assert form.time_range.key == "all" and form.sort == "time" and form.limit == PAGE_SIZE
        assert form.filter_params() == [] and form.notes == []

    def test_values_are_read_and_written_back_in_a_fixed_order(self) -> None:
        form = parse_filters(
            QueryParams(
                "q=hi&tag=b&tag=a&tag=b&min_cost=0.5&user=%20u%20&level=error&sort=cost&limit=20"
            )
        )
        assert form.view_params() == [
            ("user", "u"),
            ("tag", "b"),
            ("tag", "a"),
            ("level", "error"),
            ("min_cost", "0.5"),
            ("q", "hi"),
            ("sort", "cost"),
            ("limit", "20"),
        ]
        assert form.query_filters().tags == ("b", "a")

    def test_bad_values_become_notes(self) -> None:
        form = parse_filters(QueryParams("min_latency=abc&max_latency=inf&sort=random&level=x"))
        assert form.numbers == {} and form.sort == "time" and not form.errors_only
        assert len(form.notes) == 2

    def test_custom_range_without_dates_falls_back_with_a_note(self) -> None:
        form = parse_filters(QueryParams("range=custom&from=soon"))
        assert form.time_range.key == "all"
        assert form.notes == ["Could not read the custom time range; showing all time."]

    def test_chips_keep_sort_when_removing_a_filter(self) -> None:
        form = parse_filters(QueryParams("user=u&min_latency=1500&sort=latency"))
        found = {c.label: c.remove_url for c in chips(form, "/p")}
        assert found == {
            "User: u": "/p?min_latency=1500&sort=latency",
            "Latency ≥ 1.50 s": "/p?user=u&sort=latency",
        }


class TestScoreFormatting:
    @pytest.mark.parametrize(
        ("score", "text"),
        [
            (ScoreAverage("q", "NUMERIC", 0.8166, 3), "0.82"),
            (ScoreAverage("q", "NUMERIC", 4.0, 1), "4"),
            (ScoreAverage("ok", "BOOLEAN", 1.0, 1), "true"),
            (ScoreAverage("ok", "BOOLEAN", 0.0, 1), "false"),
            (ScoreAverage("ok", "BOOLEAN", 0.5, 2), "0.50"),
            (ScoreAverage("tone", "CATEGORICAL", 0.0, 1, "calm"), "calm"),
            (ScoreAverage("tone", "CATEGORICAL", 0.0, 1, None), "—"),
        ],
    )
    def test_badge_text(self, score: ScoreAverage, text: str) -> None:
        assert format_score(score).text == text

    def test_number_text(self) -> None:
        assert [number_text(v) for v in (100.0, 0.25, -3.0)] == ["100", "0.25", "-3"]
