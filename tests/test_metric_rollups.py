"""Hourly metric rollups (`server.metrics.rollups`), on both databases, through the real
ingestion API: the rollups agree with the plain queries, follow later updates and scores,
include the open hour, and give percentiles within 5 % of the exact ones."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from server.db.models import MetricDirtyHour, metric_hours
from server.metrics import rollups
from tests.conftest import ProjectKeys
from tests.dashboard import DashboardClient, signed_in
from tests.factories import generation_event, iso, new_id, score_event, span_event, trace_event
from tests.test_dashboard_metrics import card, ingest, open_page, table_rows
from web import metrics
from web.metrics import Percentiles
from web.queries import metrics as queries

MODELS = ["acme-large", "acme-small", "acme-tiny"]
NAMES = ["plan", "answer", "lookup", None]


@pytest.fixture
def browser(client: TestClient, engine: Engine, project: ProjectKeys) -> DashboardClient:
    return signed_in(client, engine, project, role="viewer")


def now_utc() -> datetime:
    return datetime.now(UTC)


def data_set(start: datetime, hours: int, traces: int, seed: int = 7) -> list[dict[str, Any]]:
    """Traces spread over `hours` hours from `start`: generations of several models (some
    unpriced, some errors, some linked to prompt versions), spans, two environments."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for i in range(traces):
        at = start + timedelta(seconds=rng.uniform(0, hours * 3600 - 120))
        env = "production" if rng.random() < 0.7 else "staging"
        tid = f"t{i}"
        user = f"user-{rng.randint(1, 30)}" if rng.random() < 0.8 else None
        events.append(trace_event(tid, at=at, timestamp=iso(at), environment=env, userId=user))
        for _ in range(rng.randint(0, 4)):
            begin = at + timedelta(seconds=rng.uniform(0, 60))
            fields: dict[str, Any] = {"environment": env, "level": "DEFAULT"}
            if rng.random() < 0.1:
                fields["level"] = "ERROR"
            name = rng.choice(NAMES)
            if name is not None:
                fields["name"] = name
            if rng.random() < 0.6:
                if rng.random() < 0.7:
                    fields["costDetails"] = {"total": round(rng.uniform(0.001, 0.05), 4)}
                if rng.random() < 0.5:
                    fields["promptName"] = rng.choice(["greet", "summarise"])
                    fields["promptVersion"] = rng.randint(1, 3)
                events.append(
                    generation_event(
                        new_id(),
                        tid,
                        at=begin,
                        start=begin,
                        seconds=rng.lognormvariate(0, 0.8),
                        model=rng.choice(MODELS),
                        usageDetails={"input": rng.randint(1, 500), "output": rng.randint(1, 99)},
                        **fields,
                    )
                )
            else:
                seconds = rng.lognormvariate(-2, 1)
                events.append(
                    span_event(new_id(), tid, at=begin, start=begin, seconds=seconds, **fields)
                )
        if rng.random() < 0.5:
            events.append(
                score_event(
                    new_id(),
                    trace_id=tid,
                    value=round(rng.random(), 2),
                    environment=env,
                    timestamp=iso(at),
                )
            )
    return events


def ingest_all(client: TestClient, project: ProjectKeys, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 200):
        ingest(client, project, events[i : i + 200])


def close(a: Percentiles, b: Percentiles) -> bool:
    pairs = [(a.p50, b.p50), (a.p95, b.p95), (a.p99, b.p99)]
    return all(
        (x is None and y is None)
        or (x is not None and y is not None and x == pytest.approx(y, rel=0.05, abs=1e-9))
        for x, y in pairs
    )


def dirty(engine: Engine, project: ProjectKeys) -> set[datetime]:
    with Session(engine) as session:
        query = select(MetricDirtyHour.hour).where(MetricDirtyHour.project_id == project.id)
        return {rollups.hour_of(h) for h in session.scalars(query)}


def stored_rows(engine: Engine, project: ProjectKeys) -> int:
    with Session(engine) as session:
        query = select(func.count()).where(metric_hours.c.project_id == project.id)
        return int(session.execute(query).scalar_one())


def compare(session: Session, w: queries.Window, now: datetime) -> None:
    """Everything the rolled-up page shows against the plain queries over the same window."""
    rolled = queries.Rollups.read(session, w, 3600, now)
    plain = queries.observations_by_bucket_and_model(session, w, 3600)
    found = rolled.observations_by_bucket_and_model()
    assert set(found) == set(plain)
    for key, totals in plain.items():
        got = found[key]
        assert got.cost == pytest.approx(totals.cost)
        assert {**got.__dict__, "cost": None} == {**totals.__dict__, "cost": None}, key
    exact_buckets = {b.bucket: b for b in queries.trace_buckets(session, w, 3600)}
    rolled_buckets = {b.bucket: b for b in rolled.trace_buckets()}
    assert set(exact_buckets) == set(rolled_buckets)
    for b, exact in exact_buckets.items():
        got_bucket = rolled_buckets[b]
        assert (got_bucket.traces, got_bucket.error_traces) == (exact.traces, exact.error_traces)
        assert close(got_bucket.latency, exact.latency)
    assert close(rolled.trace_latency(), queries.trace_latency(session, w))
    exact_durations = queries.model_durations(session, w)
    assert set(rolled.model_durations()) == set(exact_durations)
    for model, exact_p in exact_durations.items():
        assert close(rolled.model_durations()[model], exact_p), model
    names = {n.name: n for n in queries.observation_names(session, w)}
    rolled_names = {n.name: n for n in rolled.observation_names()}
    assert set(names) == set(rolled_names)
    for name, n in names.items():
        r = rolled_names[name]
        assert (r.count, r.errors) == (n.count, n.errors)
        assert r.cost == pytest.approx(n.cost)
        assert close(r.duration, n.duration)
    prompts = {(p.prompt_name, p.prompt_version): p for p in queries.prompt_versions(session, w)}
    rolled_prompts = {(p.prompt_name, p.prompt_version): p for p in rolled.prompt_versions()}
    assert set(prompts) == set(rolled_prompts)
    for key, p in prompts.items():
        r2 = rolled_prompts[key]
        assert r2.all_errors == p.all_errors
        assert r2.totals.observations == p.totals.observations
        assert r2.totals.unpriced == p.totals.unpriced
        assert r2.totals.cost == pytest.approx(p.totals.cost)
        assert close(r2.duration, p.duration)
    assert rolled.environments == queries.environments(session, w)
    exact_users = queries.top_users(session, w)
    rolled_users = rolled.top_users(session)
    assert [(u.user_id, u.traces, u.error_traces, u.tokens) for u in rolled_users] == [
        (u.user_id, u.traces, u.error_traces, u.tokens) for u in exact_users
    ]
    assert [u.cost for u in rolled_users] == pytest.approx([u.cost for u in exact_users])
    exact_scores = queries.prompt_version_scores(session, w)
    rolled_scores = rolled.prompt_version_scores(session)
    assert set(rolled_scores) == set(exact_scores)
    for key, sums in exact_scores.items():
        mine = {s.name: (s.total, s.count) for s in rolled_scores[key]}
        theirs = {s.name: (s.total, s.count) for s in sums}
        assert set(mine) == set(theirs), key
        for name, (total, count) in theirs.items():
            assert mine[name] == (pytest.approx(total), count), (key, name)


class TestTotals:
    def test_rollups_give_what_the_plain_queries_give(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        now = now_utc()
        start = rollups.hour_of(now) - timedelta(hours=30)
        ingest_all(client, project, data_set(start, 31, 300))
        # The writer marked every hour it wrote to; nothing is stored yet.
        assert len(dirty(engine, project)) >= 25
        assert stored_rows(engine, project) == 0
        assert rollups.refresh_dirty(engine, now) >= 25
        assert dirty(engine, project) <= {rollups.hour_of(now)}  # only the open hour is left
        assert stored_rows(engine, project) > 0
        windows = [
            queries.Window(project.id, start - timedelta(minutes=17), now),
            queries.Window(project.id, start + timedelta(minutes=23), now - timedelta(hours=3)),
            queries.Window(project.id, start, now, environment="staging"),
        ]
        with Session(engine) as session:
            for w in windows:
                compare(session, w, now)

    def test_dirty_hours_are_read_raw_until_rebuilt(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        """The page never shows stale rollups: an hour marked dirty since it was built is
        read from the raw rows, before and after its rebuild alike."""
        now = now_utc()
        start = rollups.hour_of(now) - timedelta(hours=12)
        ingest_all(client, project, data_set(start, 10, 80, seed=3))
        rollups.refresh_dirty(engine, now)
        ingest_all(client, project, data_set(start, 10, 40, seed=4))  # new ids, same hours
        assert len(dirty(engine, project)) >= 5
        w = queries.Window(project.id, start, now)
        with Session(engine) as session:
            compare(session, w, now)
        rollups.refresh_dirty(engine, now)
        with Session(engine) as session:
            compare(session, w, now)


class TestUpdates:
    def test_a_later_update_and_a_move_to_another_hour_are_rolled_up(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        now = now_utc()
        first = rollups.hour_of(now) - timedelta(hours=5)
        at = first + timedelta(minutes=10)
        obs = new_id()
        ingest(
            client,
            project,
            [
                trace_event("T", at=at, timestamp=iso(at)),
                generation_event(obs, "T", at=at, start=at, model="m", costDetails={"total": 0.01}),
            ],
        )
        rollups.refresh_dirty(engine, now)
        w = queries.Window(project.id, first - timedelta(hours=1), now)

        def by_hour() -> dict[int, metrics.Totals]:
            with Session(engine) as session:
                rolled = queries.Rollups.read(session, w, 3600, now)
                return metrics.per_bucket(rolled.observations_by_bucket_and_model())

        hour = int(first.timestamp())
        assert by_hour()[hour].cost == pytest.approx(0.01) and by_hour()[hour].errors == 0
        later = now - timedelta(seconds=5)
        update = {"id": obs, "traceId": "T", "costDetails": {"total": 0.05}, "level": "ERROR"}
        ingest(client, project, [_event("generation-update", update, later)])
        assert rollups.hour_of(first) in dirty(engine, project)
        rollups.refresh_dirty(engine, now)
        assert rollups.hour_of(first) not in dirty(engine, project)
        assert by_hour()[hour].cost == pytest.approx(0.05) and by_hour()[hour].errors == 1
        # Start times are fixed once set, except on a row an update created before its
        # create arrived: the create then moves it to its real hour.
        early = new_id()
        update = {"id": early, "traceId": "T", "startTime": iso(at), "model": "m"}
        ingest(client, project, [_event("generation-update", update, at)])
        rollups.refresh_dirty(engine, now)
        assert by_hour()[hour].observations == 2
        moved = first + timedelta(hours=2, minutes=5)
        ingest(
            client,
            project,
            [generation_event(early, "T", at=moved, start=moved, model="m")],
        )
        assert {first, first + timedelta(hours=2)} <= dirty(engine, project)
        rollups.refresh_dirty(engine, now)
        after = by_hour()
        assert after[hour].observations == 1 and after[hour].cost == pytest.approx(0.05)
        assert after[hour + 7200].observations == 1 and after[hour + 7200].generations == 1

    def test_a_score_arriving_later_changes_the_prompt_version_averages(
        self, client: TestClient, engine: Engine, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        now = now_utc()
        at = rollups.hour_of(now) - timedelta(hours=3)
        ingest(
            client,
            project,
            [
                trace_event("P", at=at, timestamp=iso(at)),
                generation_event(
                    new_id(), "P", at=at, start=at, model="m", promptName="greet", promptVersion=1
                ),
                score_event(new_id(), trace_id="P", name="quality", value=1.0, timestamp=iso(at)),
            ],
        )
        rollups.refresh_dirty(engine, now)
        assert table_rows(open_page(browser, project, range="7d"), "by-prompt")[0][-1] == "1"
        ingest(
            client,
            project,
            [score_event(new_id(), trace_id="P", name="quality", value=0.0, timestamp=iso(now))],
        )
        assert at in dirty(engine, project)  # the hours of the trace's observations
        assert table_rows(open_page(browser, project, range="7d"), "by-prompt")[0][-1] == "0.50"


def _event(kind: str, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"id": new_id(), "type": kind, "timestamp": iso(at), "body": body}


class TestPage:
    def test_data_ingested_now_shows_at_once_on_long_ranges(
        self, client: TestClient, engine: Engine, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        at = now_utc() - timedelta(seconds=2)
        ingest(
            client,
            project,
            [
                trace_event("N", at=at, timestamp=iso(at)),
                generation_event(new_id(), "N", at=at, start=at, model="m"),
            ],
        )
        for key in ("24h", "7d", "30d"):
            page = open_page(browser, project, range=key)
            assert card(page, "traces") == "1", key
            assert card(page, "generations") == "1", key
            assert page.select_one('[data-testid="approximate"]') is not None

    def test_seven_days_match_the_exact_six_hours_on_data_that_fits_both(
        self, client: TestClient, engine: Engine, browser: DashboardClient, project: ProjectKeys
    ) -> None:
        now = now_utc()
        ingest_all(client, project, data_set(now - timedelta(hours=5), 5, 120, seed=11))
        rollups.refresh_dirty(engine, now)
        exact = open_page(browser, project, range="6h")
        rolled = open_page(browser, project, range="7d")
        assert exact.select_one('[data-testid="approximate"]') is None
        assert rolled.select_one('[data-testid="approximate"]') is not None
        for metric in ("traces", "observations", "generations", "input_tokens", "output_tokens"):
            assert card(rolled, metric) == card(exact, metric), metric
        for metric in ("cost", "unpriced", "error_rate"):
            assert card(rolled, metric) == card(exact, metric), metric
        durations = {"by-model": (6, 7), "by-name": (2, 3), "by-prompt": (3,)}
        for section, columns in durations.items():
            mine, theirs = table_rows(rolled, section), table_rows(exact, section)
            assert len(mine) == len(theirs), section
            for a, b in zip(mine, theirs, strict=True):
                strip = [c for i, c in enumerate(a) if i not in columns]
                assert strip == [c for i, c in enumerate(b) if i not in columns], section
        assert table_rows(rolled, "by-user") == table_rows(exact, "by-user")


class TestHistograms:
    def test_percentiles_from_histograms_are_within_five_percent(self) -> None:
        rng = random.Random(5)
        for _ in range(50):
            values = [rng.lognormvariate(5, 2) for _ in range(rng.randint(1, 400))]
            histogram: dict[int, int] = {}
            for v in values:
                histogram[rollups.bin_of(v)] = histogram.get(rollups.bin_of(v), 0) + 1
            approx = rollups.histogram_percentiles(histogram, metrics.PERCENTILES)
            exact = metrics.percentiles(values)
            assert approx == pytest.approx([exact.p50, exact.p95, exact.p99], rel=0.05)

    def test_zero_durations_stay_zero(self) -> None:
        histogram = {rollups.bin_of(0.0): 3}
        assert rollups.histogram_percentiles(histogram, [0.5]) == [0.0]

    def test_encoded_histograms_add_up_when_joined(self) -> None:
        from collections import Counter

        one, two = rollups.encode({3: 1, 5: 2}), rollups.encode({5: 1, -2: 4})
        assert one is not None and two is not None
        total: Counter[int] = Counter()
        rollups.add_encoded(total, one + "," + two)
        assert total == Counter({3: 1, 5: 3, -2: 4})
