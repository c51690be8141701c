"""Per-trace totals kept by the writer, and the search index kept by the database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from server.db.dialect import Dialect, search_condition
from server.db.engine import make_engine
from server.db.migrate import alembic_config
from server.db.models import Observation, Trace, TraceRollup
from tests.conftest import ProjectKeys, fresh_database_url
from tests.factories import T0, generation_event, iso, span_event, trace_event


def ingest(client: TestClient, project: ProjectKeys, *events: dict[str, Any]) -> None:
    response = client.post(
        "/api/public/ingestion", json={"batch": list(events)}, headers=project.headers
    )
    assert response.status_code == 207
    assert response.json()["errors"] == []


def rollup(engine: Engine, project: ProjectKeys, trace_id: str) -> TraceRollup | None:
    with Session(engine) as session:
        return session.get(TraceRollup, (project.id, trace_id))


class TestTraceRollups:
    def test_totals_cover_every_observation_whatever_the_batch(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(
            client,
            project,
            trace_event("t"),
            span_event("root", "t", start=T0, seconds=3),
            generation_event(
                "g1",
                "t",
                start=T0 + timedelta(seconds=1),
                seconds=1,
                usageDetails={"input": 100, "output": 20, "input_cached_tokens": 50},
                costDetails={"total": 0.5},
            ),
        )
        ingest(
            client,
            project,
            generation_event(
                "g2",
                "t",
                start=T0 + timedelta(seconds=2),
                seconds=4,
                level="ERROR",
                usageDetails={"input": 10, "output": 5},
                costDetails={"input": 0.1, "output": 0.2},
            ),
        )
        found = rollup(engine, project, "t")
        assert found is not None
        assert found.observation_count == 3 and found.generation_count == 2
        assert found.error_count == 1
        assert found.latency_ms == pytest.approx(6000.0)  # T0 → g2 ends at T0+6s
        assert (found.input_tokens, found.output_tokens) == (160, 25)
        assert found.total_tokens == 185
        assert found.total_cost == pytest.approx(0.8)

    def test_an_update_to_an_observation_changes_the_totals(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(client, project, generation_event("g", "t2", seconds=1, costDetails={"total": 1.0}))
        update = {
            "id": "u1",
            "type": "generation-update",
            "timestamp": iso(T0 + timedelta(minutes=1)),
            "body": {
                "id": "g",
                "traceId": "t2",
                "endTime": iso(T0 + timedelta(seconds=9)),
                "costDetails": {"total": 2.5},
                "level": "ERROR",
            },
        }
        ingest(client, project, update)
        found = rollup(engine, project, "t2")
        assert found is not None
        assert found.total_cost == pytest.approx(2.5)
        assert found.latency_ms == pytest.approx(9000.0)
        assert found.error_count == 1

    def test_unknown_cost_stays_unknown_and_a_trace_without_observations_has_no_rollup(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(client, project, trace_event("bare"), span_event("s", "t3"))
        assert rollup(engine, project, "bare") is None
        found = rollup(engine, project, "t3")
        assert found is not None
        assert found.total_cost is None and found.total_tokens is None

    def test_observation_token_and_duration_columns(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(
            client,
            project,
            generation_event(
                "g4",
                "t4",
                seconds=2.5,
                usageDetails={"input": 7, "output": 3, "output_reasoning_tokens": 4, "total": 14},
            ),
            span_event("open", "t4", start=T0, seconds=1),
        )
        with Session(engine) as session:
            row = session.get(Observation, (project.id, "g4"))
            assert row is not None
            assert (row.input_tokens, row.output_tokens, row.total_tokens) == (7, 7, 14)
            assert row.duration_ms == pytest.approx(2500.0)


class TestSearch:
    def test_trace_text_is_found_by_substring_in_any_script(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(
            client,
            project,
            trace_event("ja", input={"q": "東京の天気はどうですか"}, output="晴れです"),
            trace_event("ru", input="Какая погода в Москве?", output="Солнечно"),
            trace_event("en", input="What is the Weather in Paris?", output="Sunny"),
        )
        update = trace_event("ru", input="Какая погода в Москве? ВЕТЕР")
        ingest(client, project, update)
        with Session(engine) as session:
            dialect = Dialect.of(session)

            def found(term: str) -> set[str]:
                query = select(Trace.id).where(
                    Trace.project_id == project.id,
                    search_condition(dialect, Trace.__table__, term),  # type: ignore[arg-type]
                )
                return set(session.scalars(query))

            assert found("天気") == {"ja"}  # two characters: the scan path
            assert found("東京の天気") == {"ja"}
            assert found("погода") == {"ru"}
            assert found("ВЕТЕР") == {"ru"}  # text from a later update is searchable
            assert found("weather in") == {"en"}  # any case
            assert found("sunny") == {"en"}  # output too
            assert found("100%_") == set()


def test_upgrading_an_existing_database_fills_rollups_and_the_search_index(
    dialect: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_database_url(dialect, tmp_path, "upgrade"))
    try:
        config = alembic_config(engine)
        command.upgrade(config, "0003")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO traces (project_id, id, timestamp, environment, public, bookmarked, "
                    "tags, input, implicit, last_event_at, created_at, updated_at) VALUES "
                    "('p', 't', :t, 'default', false, false, '[]', '\"old needle text\"', false, :t, :t, :t)"
                ),
                {"t": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO observations (project_id, id, trace_id, type, start_time, end_time, "
                    "level, environment, usage_details, total_cost, provisional, last_event_at, "
                    "created_at, updated_at) VALUES ('p', 'o', 't', 'GENERATION', :t, :e, 'DEFAULT', "
                    "'default', '{\"input\": 5, \"output\": 2}', 0.25, false, :t, :t, :t)"
                ),
                {"t": T0, "e": T0 + timedelta(seconds=2)},
            )
        command.upgrade(config, "head")
        with Session(engine) as session:
            found = session.get(TraceRollup, ("p", "t"))
            assert found is not None
            assert (found.input_tokens, found.output_tokens, found.total_cost) == (5, 2, 0.25)
            assert found.latency_ms == pytest.approx(2000.0)
            obs = session.get(Observation, ("p", "o"))
            assert obs is not None and obs.duration_ms == pytest.approx(2000.0)
            query = select(Trace.id).where(
                search_condition(Dialect.of(session), Trace.__table__, "needle")  # type: ignore[arg-type]
            )
            assert list(session.scalars(query)) == ["t"]
    finally:
        engine.dispose()


def test_upgrading_marks_the_hours_with_costs_dirty_and_the_rebuild_splits_them_by_type(
    dialect: str, tmp_path: Path
) -> None:
    from sqlalchemy import bindparam

    from server.db.models import metric_hours
    from server.db.types import UtcDateTime
    from server.metrics import rollups

    engine = make_engine(fresh_database_url(dialect, tmp_path, "usage-types"))
    try:
        config = alembic_config(engine)
        command.upgrade(config, "0006")
        # Rows written before 0007, with no dirty mark (as after `spyglass metrics rebuild`).
        with engine.begin() as conn:
            for obs_id, cost in (
                ("priced", '{"input": 0.1, "input_cached_tokens": 0.02, "total": 0.12}'),
                ("unpriced", None),
            ):
                conn.execute(
                    text(
                        "INSERT INTO observations (project_id, id, trace_id, type, start_time, "
                        "level, environment, cost_details, total_cost, provisional, "
                        "last_event_at, created_at, updated_at) VALUES ('p', :id, 't', "
                        "'GENERATION', :t, 'DEFAULT', 'default', :cost, :total, false, :t, :t, :t)"
                    ).bindparams(bindparam("t", type_=UtcDateTime())),
                    {"id": obs_id, "t": T0, "cost": cost, "total": 0.12 if cost else None},
                )
        command.upgrade(config, "head")
        assert rollups.refresh_dirty(engine, T0 + timedelta(days=1)) == 1
        m = metric_hours.c
        with engine.connect() as conn:
            stored = conn.execute(
                select(m.key, m.cost, m.observations).where(m.dimension == "usage")
            ).all()
        assert sorted(stored) == [("cached input", pytest.approx(0.02), 1), ("input", 0.1, 1)]
    finally:
        engine.dispose()
