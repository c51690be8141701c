"""Recompute costs after a price definition changed (`spyglass costs recompute`, settings page).

Observations whose cost the client sent are left alone. Work goes in batches in keyset order,
each batch one short transaction holding the same per-entity locks as the ingestion writer,
so recomputing a large range never blocks ingestion for long and can be interrupted safely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, and_, func, or_, select, update

from server.db.dialect import lock_keys
from server.db.models import Observation
from server.ingest.rollups import refresh_trace_rollups
from server.metrics.rollups import hour_of, mark
from server.pricing.book import PriceBook, price_observation

BATCH = 1000
_PRICED = (
    "usage_details",
    "usage_estimated",
    "cost_details",
    "total_cost",
    "cost_source",
    "unpriced_reason",
    "model_price_id",
    "pricing_tier",
    "input_tokens",
    "output_tokens",
    "total_tokens",
)


@dataclass
class RecomputeResult:
    examined: int = 0
    changed: int = 0
    priced: int = 0
    unpriced: int = 0


def _scope(project_id: str, start: datetime | None, end: datetime | None) -> list[Any]:
    conditions: list[Any] = [
        Observation.project_id == project_id,
        Observation.model.is_not(None),
        or_(Observation.cost_source.is_(None), Observation.cost_source != "client"),
    ]
    if start is not None:
        conditions.append(Observation.start_time >= start)
    if end is not None:
        conditions.append(Observation.start_time < end)
    return conditions


def count_to_recompute(
    engine: Engine, project_id: str, start: datetime | None, end: datetime | None
) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(Observation).where(*_scope(project_id, start, end))
        return int(conn.execute(query).scalar_one())


def recompute_costs(
    engine: Engine,
    project_id: str,
    start: datetime | None,
    end: datetime | None,
    *,
    prices: PriceBook | None = None,
    on_batch: Callable[[int], None] | None = None,
    batch: int = BATCH,
) -> RecomputeResult:
    """Price every observation in the range again with the definitions in force now."""
    book = prices or PriceBook()
    book.invalidate(project_id)
    result = RecomputeResult()
    table: Table = Observation.__table__  # type: ignore[assignment]
    after: tuple[datetime, str] | None = None
    while True:
        with engine.connect().execution_options(write_lock=True) as conn, conn.begin():
            query = select(table.c.start_time, table.c.id).where(*_scope(project_id, start, end))
            if after is not None:
                query = query.where(
                    or_(
                        table.c.start_time > after[0],
                        and_(table.c.start_time == after[0], table.c.id > after[1]),
                    )
                )
            keys = list(conn.execute(query.order_by(table.c.start_time, table.c.id).limit(batch)))
            if not keys:
                return result
            after = (keys[-1].start_time, keys[-1].id)
            ids = [key.id for key in keys]
            # The writer's own lock keys, taken before reading, so no event lands in between.
            lock_keys(conn, [f"observation:{project_id}:{obs_id}" for obs_id in ids])
            rows = [
                dict(r._mapping)
                for r in conn.execute(
                    select(table).where(table.c.project_id == project_id, table.c.id.in_(ids))
                )
            ]
            touched: set[tuple[str, str]] = set()
            for row in rows:
                before = {key: row[key] for key in _PRICED}
                price_observation(row, book.matching(conn, project_id, row["model"]))
                result.examined += 1
                if row["total_cost"] is None:
                    result.unpriced += 1
                else:
                    result.priced += 1
                if any(before[key] != row[key] for key in _PRICED):
                    result.changed += 1
                    conn.execute(
                        update(table)
                        .where(table.c.project_id == project_id, table.c.id == row["id"])
                        .values({key: row[key] for key in _PRICED})
                    )
                    touched.add((project_id, row["trace_id"]))
            refresh_trace_rollups(conn, touched)
            # Hourly metric rollups hold costs too: their hours must be rebuilt.
            mark(
                conn,
                {
                    (project_id, hour_of(row["start_time"]))
                    for row in rows
                    if (project_id, row["trace_id"]) in touched
                },
            )
        if on_batch is not None:
            on_batch(len(keys))
