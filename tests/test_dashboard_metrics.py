"""The metrics page over a known data set, through ingestion and the real HTTP stack, on both
databases: headline numbers, percentiles, charts, breakdowns, ranges, unpriced cost, escaping."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.conftest import ProjectKeys, make_project
from tests.dashboard import DashboardClient, make_user, sign_in, signed_in
from tests.factories import generation_event, iso, new_id, score_event, span_event, trace_event
from web import metrics
from web.queries import metrics as queries

XSS = "<script>alert(1)</script>"


def ingest(client: TestClient, project: ProjectKeys, events: list[dict[str, Any]]) -> None:
    response = client.post("/api/public/ingestion", json={"batch": events}, headers=project.headers)
    assert response.status_code == 207, response.text
    assert response.json()["errors"] == []


def trace(trace_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return trace_event(trace_id, at=at, timestamp=iso(at), **fields)


def generation(
    trace_id: str,
    start: datetime,
    seconds: float,
    model: str,
    tokens: tuple[int, int],
    **fields: Any,
) -> dict[str, Any]:
    usage = {"input": tokens[0], "output": tokens[1]}
    return generation_event(
        new_id(),
        trace_id,
        at=start,
        start=start,
        seconds=seconds,
        model=model,
        usageDetails=usage,
        **fields,
    )


def score(
    trace_id: str, at: datetime, name: str, value: float | str, **fields: Any
) -> dict[str, Any]:
    return score_event(
        new_id(), trace_id=trace_id, name=name, value=value, timestamp=iso(at), **fields
    )


@dataclass
class DataSet:
    """Four traces over three hours ending four hours ago, and one trace three days ago.

    A (alice): span 0.5 s + acme-large 1.5 s, 100/20 tokens, $0.01, prompt greet v1 → 2 s
    B (bob):   acme-large 3 s, 200/40, $0.02, greet v2; acme-small 1 s, 50/10, no cost, ERROR,
               greet v2 → 3 s, one error
    C (alice): acme-small 4 s, 10/5, $0.005, greet v2 → 4 s
    D:         a trace with no observations
    old:       acme-old 1 s, $1, three days ago (outside 24 h, inside 7 days)
    Scores: quality A 1.0, B 0.5, C 0.0; helpful (boolean) A 1; a categorical label on A.
    """

    start: datetime
    a: datetime
    b: datetime
    c: datetime


def seed(client: TestClient, project: ProjectKeys) -> DataSet:
    now = datetime.now(UTC).replace(microsecond=0)
    a, b, c = (now - timedelta(hours=4) + timedelta(hours=h) for h in range(3))
    d, old = c + timedelta(minutes=10), now - timedelta(days=3)
    events = [
        trace("A", a, name="chat", userId="alice"),
        span_event(new_id(), "A", at=a, start=a, seconds=0.5, name="retrieve"),
        generation(
            "A",
            a + timedelta(seconds=0.5),
            1.5,
            "acme-large",
            (100, 20),
            name="llm",
            costDetails={"total": 0.01},
            promptName="greet",
            promptVersion=1,
        ),
        trace("B", b, name="chat", userId="bob"),
        generation(
            "B",
            b,
            3,
            "acme-large",
            (200, 40),
            name="llm",
            costDetails={"total": 0.02},
            promptName="greet",
            promptVersion=2,
        ),
        generation(
            "B",
            b,
            1,
            "acme-small",
            (50, 10),
            name="llm",
            level="ERROR",
            promptName="greet",
            promptVersion=2,
        ),
        trace("C", c, name="chat", userId="alice"),
        generation(
            "C",
            c,
            4,
            "acme-small",
            (10, 5),
            name="llm",
            costDetails={"total": 0.005},
            promptName="greet",
            promptVersion=2,
        ),
        trace("D", d, name="empty"),
        trace("OLD", old, name="chat", userId="carol"),
        generation("OLD", old, 1, "acme-old", (1, 1), name="llm", costDetails={"total": 1.0}),
        score("A", a, "quality", 1.0),
        score("B", b, "quality", 0.5),
        score("C", c, "quality", 0.0),
        score("A", a, "helpful", 1, dataType="BOOLEAN"),
        score("A", a, "label", "good"),
    ]
    ingest(client, project, events)
    return DataSet(a, a, b, c)


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def open_page(browser: DashboardClient, project: ProjectKeys, **params: str) -> BeautifulSoup:
    response = browser.get(f"/project/{project.id}/metrics", params=params)
    assert response.status_code == 200, response.text
    return soup(response.text)


def card(page: BeautifulSoup, metric: str) -> str:
    found = page.select_one(f'[data-metric="{metric}"]')
    assert found is not None, f"no {metric} card"
    value = found.select_one(".value") or found
    return value.get_text(" ", strip=True)


def charts(page: BeautifulSoup) -> dict[str, dict[str, Any]]:
    found = {}
    for canvas in page.select(".chart-canvas[data-chart]"):
        spec = json.loads(str(canvas["data-chart"]))
        found[spec["id"]] = spec
    return found


def series(spec: dict[str, Any], label: str) -> list[float | None]:
    for item in spec["series"]:
        if item["label"] == label:
            values: list[float | None] = item["values"]
            return values
    raise AssertionError(f"no series {label} in {spec['id']}")


def known(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def table_rows(page: BeautifulSoup, section: str) -> list[list[str]]:
    table = page.select_one(f"#{section} table")
    assert table is not None
    return [
        [cell.get_text(" ", strip=True) for cell in row.find_all("td")]
        for row in table.select("tbody tr")
    ]


def ms(text: str) -> float:
    """A duration as the page shows it ("500 ms", "3.85 s"), in milliseconds."""
    value, unit = text.split()
    return float(value) * {"ms": 1, "s": 1000, "min": 60_000}[unit]


def near(expected_ms: float) -> Any:
    """Ranges over 6 h read the hourly rollups: percentiles from histograms, within 5 %."""
    return pytest.approx(expected_ms, rel=0.05)


def matches(rows: list[list[str]], expected: list[list[str | float]]) -> bool:
    """Table rows, with durations (given in ms) compared to within 5 %."""
    return len(rows) == len(expected) and all(
        len(row) == len(want)
        and all(
            ms(cell) == near(w) if isinstance(w, float) else cell == w
            for cell, w in zip(row, want, strict=True)
        )
        for row, want in zip(rows, expected, strict=True)
    )


def row_link(page: BeautifulSoup, section: str, text: str) -> dict[str, list[str]]:
    link = next(a for a in page.select(f"#{section} tbody a") if a.get_text() == text)
    url = urlsplit(str(link["href"]))
    assert url.path.endswith("/traces")
    return parse_qs(url.query)


@pytest.fixture
def browser(client: TestClient, engine: Engine, project: ProjectKeys) -> DashboardClient:
    return signed_in(client, engine, project, role="viewer")


class TestAccess:
    def test_anonymous_visitors_are_sent_to_sign_in(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        anonymous = DashboardClient(client.app, follow_redirects=False)
        response = anonymous.get(f"/project/{project.id}/metrics?range=7d")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")

    def test_a_user_of_another_project_is_refused(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        outsider = sign_in(client, make_user(engine, make_project(engine)))
        assert outsider.get(f"/project/{project.id}/metrics").status_code == 403


class TestEmptyProject:
    def test_an_empty_project_explains_how_to_send_data(
        self, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        page = open_page(browser, project)
        empty = page.select_one("#metrics-empty")
        assert empty is not None
        assert "/api/public/otel/v1/traces" in empty.get_text()
        assert page.select_one("#cards") is None
        current = page.select_one('.top .sections a[aria-current="page"]')
        assert current is not None and current.get_text() == "Metrics"


class TestFragment:
    def test_an_htmx_request_gets_the_metrics_block_only(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        seed(client, project)
        response = browser.htmx("GET", f"/project/{project.id}/metrics?range=7d")
        assert response.status_code == 200
        assert "<html" not in response.text
        fragment = soup(response.text)
        assert fragment.select_one("#cards") is not None
        assert fragment.select_one('.range-presets a[aria-current="page"]').get_text() == "7d"  # type: ignore[union-attr]


class TestHeadline:
    def test_cards_show_the_totals_of_the_range(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        seed(client, project)
        page = open_page(browser, project, range="24h")
        assert card(page, "traces") == "4"
        assert card(page, "observations") == "5"
        assert card(page, "generations") == "4"
        assert card(page, "input_tokens") == "360"
        assert card(page, "output_tokens") == "75"
        assert card(page, "cost") == "$0.035"
        assert card(page, "unpriced").startswith("1 generation without a cost")
        assert card(page, "error_rate") == "25.0%"
        # 24 h reads the hourly rollups: approximate percentiles, said on the page.
        assert page.select_one('[data-testid="approximate"]') is not None
        assert ms(card(page, "p50")) == near(3000)
        assert ms(card(page, "p95")) == near(3900)
        assert ms(card(page, "p99")) == near(3980)
        scores = {
            str(c["data-score"]): c.select_one(".value").get_text()  # type: ignore[union-attr]
            for c in page.select('[data-metric="score"]')
        }
        assert scores == {"quality": "0.50", "helpful": "1"}  # the categorical label is left out

    def test_a_range_where_no_generation_has_a_cost_shows_unknown_not_zero(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        at = datetime.now(UTC) - timedelta(minutes=30)
        ingest(client, project, [trace("T", at), generation("T", at, 1, "acme-free", (5, 5))])
        page = open_page(browser, project, range="1h")
        assert card(page, "cost") == "—"
        assert card(page, "unpriced").startswith("1 generation")
        assert table_rows(page, "by-model")[0][4] == "—"
        assert "cost" not in charts(page)  # no bucket has a known cost: the chart says so


class TestPercentiles:
    def test_latency_and_duration_percentiles_interpolate_like_percentile_cont(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        """The same figures on SQLite (ranks + Python) and Postgres (percentile_cont)."""
        now = datetime.now(UTC)
        latencies = [0.25, 7.5, 1.0, 3.0, 0.5, 12.0, 2.0]  # seconds, one trace each
        events = []
        for i, seconds in enumerate(latencies):
            at = now - timedelta(minutes=50 - i)
            events += [trace(f"t{i}", at), generation(f"t{i}", at, seconds, "m", (1, 1))]
        ingest(client, project, events)
        window = queries.Window(project.id, now - timedelta(hours=1), now + timedelta(seconds=1))
        expected = metrics.percentiles([s * 1000 for s in latencies])
        with Session(engine) as session:
            overall = queries.trace_latency(session, window)
            durations = queries.model_durations(session, window)
        assert overall == expected
        assert durations["m"] == expected
        # 250 500 1000 2000 3000 7500 12000: p95 sits at rank 5.7, p99 at 5.94
        assert (expected.p50, expected.p95, expected.p99) == pytest.approx((2000, 10650, 11730))

    def test_each_bucket_has_percentiles_of_its_own_traces(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        data = seed(client, project)
        window = queries.Window(project.id, data.start - timedelta(hours=1), datetime.now(UTC))
        with Session(engine) as session:
            buckets = queries.trace_buckets(session, window, 3600)
        found = sorted(b.latency.p50 for b in buckets if b.latency.p50 is not None)
        assert found == [2000, 3000, 4000]  # D has no observations, so no latency


class TestCharts:
    def test_bucket_values_add_up_to_the_cards(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        seed(client, project)
        found = charts(open_page(browser, project, range="24h"))
        assert set(found) == {
            "traces",
            "latency",
            "tokens",
            "cost",
            "cost-types",
            "errors",
            "scores",
        }
        assert sum(known(series(found["traces"], "Traces"))) == 4
        assert sum(known(series(found["traces"], "With errors"))) == 1
        assert sum(known(series(found["tokens"], "Input"))) == 360
        assert sum(known(series(found["tokens"], "Output"))) == 75
        assert sum(known(series(found["cost"], "Total"))) == pytest.approx(0.035)
        assert sum(known(series(found["cost"], "acme-large"))) == pytest.approx(0.03)
        assert sum(known(series(found["cost"], "acme-small"))) == pytest.approx(0.005)
        by_type = {s["label"]: sum(known(s["values"])) for s in found["cost-types"]["series"]}
        assert by_type == {"Not split": pytest.approx(0.035)}  # clients sent totals only
        assert sorted(known(series(found["latency"], "p50"))) == near([2000, 3000, 4000])
        assert sorted(known(series(found["errors"], "Error rate")))[-1] == 1.0
        assert sorted(known(series(found["scores"], "quality"))) == [0.0, 0.5, 1.0]
        traces = found["traces"]
        assert len(traces["x"]) <= 120 and traces["bucket"] == 3600  # rollups: whole hours
        assert all(len(s["values"]) == len(traces["x"]) for s in traces["series"])

    def test_a_click_opens_the_traces_of_the_bucket(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        seed(client, project)
        found = charts(open_page(browser, project, range="24h"))
        base = f"/project/{project.id}/traces?range=custom&from={{from}}&to={{to}}"
        assert found["traces"]["link"] == base
        assert found["errors"]["link"] == base + "&level=error"


class TestBreakdowns:
    def test_models_with_tokens_cost_unpriced_durations_and_errors(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        seed(client, project)
        page = open_page(browser, project, range="24h")
        rows = table_rows(page, "by-model")
        assert matches(
            rows,
            [
                ["acme-large", "2", "300", "60", "$0.03", "0", 2250.0, 2925.0, "0"],
                ["acme-small", "2", "60", "15", "$0.005", "1", 2500.0, 3850.0, "1"],
            ],
        ), rows
        assert row_link(page, "by-model", "acme-small") == {
            "range": ["24h"],
            "model": ["acme-small"],
        }

    def test_observation_names(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        seed(client, project)
        page = open_page(browser, project, range="24h")
        rows = table_rows(page, "by-name")
        assert matches(
            rows,
            [
                ["llm", "4", 2250.0, 3850.0, "1", "$0.035"],
                ["retrieve", "1", 500.0, 500.0, "0", "—"],
            ],
        ), rows
        # Observation names are not trace names: the traces list cannot filter on them.
        assert page.select("#by-name tbody a") == []

    def test_users_by_cost(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        seed(client, project)
        page = open_page(browser, project, range="24h")
        assert table_rows(page, "by-user") == [
            ["bob", "1", "100.0%", "300", "$0.02"],
            ["alice", "2", "0.0%", "135", "$0.015"],
        ]
        assert row_link(page, "by-user", "alice") == {"range": ["24h"], "user": ["alice"]}

    def test_prompt_versions_newest_first_with_the_scores_of_their_traces(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        seed(client, project)
        page = open_page(browser, project, range="24h")
        headers = [th.get_text() for th in page.select("#by-prompt thead th")]
        assert headers[-2:] == ["helpful", "quality"]
        rows = table_rows(page, "by-prompt")
        assert matches(
            rows,
            [
                # B counts once for its two greet v2 generations: quality (0.5 + 0.0) / 2
                # …and v2 is worse than v1: both moves are shown, as worse
                [
                    "greet",
                    "2",
                    "3",
                    3000.0,
                    "260",
                    "55",
                    "$0.025 (1 unpriced)",
                    "33.3% +33.3%",
                    "—",
                    "0.25 -0.75",
                ],
                ["greet", "1", "1", 1500.0, "100", "20", "$0.01", "0.0%", "1", "1"],
            ],
        ), rows
        moves = page.select("#by-prompt tbody tr:first-child .change")
        assert [m["class"] for m in moves] == [["change", "worse"], ["change", "worse"]]


class TestRange:
    def test_data_outside_the_range_is_left_out(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        data = seed(client, project)
        day = open_page(browser, project, range="24h")
        week = open_page(browser, project, range="7d")
        assert card(day, "traces") == "4" and card(week, "traces") == "5"
        assert "acme-old" not in [r[0] for r in table_rows(day, "by-model")]
        assert table_rows(week, "by-model")[0][0] == "acme-old"
        hour = open_page(browser, project, range="1h")
        assert card(hour, "traces") == "0" and hour.select_one("#range-empty") is not None
        custom = open_page(
            browser,
            project,
            range="custom",
            **{
                "from": iso(data.a - timedelta(minutes=1)),
                "to": iso(data.a + timedelta(minutes=1)),
            },
        )
        assert card(custom, "traces") == "1"
        assert row_link(custom, "by-model", "acme-large")["range"] == ["custom"]

    def test_the_default_is_24_hours_and_all_time_is_cut_to_90_days(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        seed(client, project)
        page = open_page(browser, project)
        current = page.select_one('.range-presets a[aria-current="page"]')
        assert current is not None and current.get_text() == "24h"
        everything = open_page(browser, project, range="all")
        assert card(everything, "traces") == "5"
        assert "90 days" in everything.select_one('[data-testid="window"]').get_text()  # type: ignore[union-attr]

    def test_an_environment_filter(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        at = datetime.now(UTC) - timedelta(minutes=30)
        ingest(
            client,
            project,
            [
                trace("P", at, environment="production"),
                generation("P", at, 1, "acme", (1, 1), environment="production"),
                trace("S", at, environment="staging"),
                generation("S", at, 1, "acme", (7, 7), environment="staging"),
            ],
        )
        page = open_page(browser, project, range="1h", env="staging")
        assert card(page, "traces") == "1" and card(page, "input_tokens") == "7"
        options = [o.get_text() for o in page.select('select[name="env"] option')]
        assert options == ["All", "production", "staging"]
        assert row_link(page, "by-model", "acme")["env"] == ["staging"]


class TestEscaping:
    def test_stored_markup_comes_back_as_text(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        at = datetime.now(UTC) - timedelta(minutes=30)
        ingest(
            client,
            project,
            [
                trace("X", at, userId=XSS),
                generation("X", at, 1, XSS, (1, 1), name=XSS, promptName=XSS, promptVersion=1),
                score("X", at, XSS, 1.0),
            ],
        )
        response = browser.get(f"/project/{project.id}/metrics", params={"range": "1h"})
        assert XSS not in response.text
        page = soup(response.text)
        assert not [s for s in page.find_all("script") if "alert" in s.get_text()]
        for section in ("by-model", "by-name", "by-user", "by-prompt"):
            assert table_rows(page, section)[0][0] == XSS
        assert row_link(page, "by-model", XSS)["model"] == [XSS]
        score_card = page.select_one('[data-metric="score"]')
        assert isinstance(score_card, Tag) and score_card["data-score"] == XSS
        assert series(charts(page)["scores"], XSS)

    def test_quotes_in_a_chart_label_cannot_add_attributes(
        self, client: TestClient, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        at = datetime.now(UTC) - timedelta(minutes=30)
        label = """q" onmouseover="alert(1)" x='y' z=w"""
        ingest(client, project, [trace("Q", at), score("Q", at, label, 1.0)])
        page = open_page(browser, project, range="1h")
        canvas = page.select_one("#chart-scores .chart-canvas")
        assert canvas is not None and set(canvas.attrs) == {"class", "data-chart"}
        assert [s["label"] for s in charts(page)["scores"]["series"]] == [label]
