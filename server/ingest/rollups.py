"""Per-trace totals (`trace_rollups`), recomputed by the writer for every trace it touched.

Recomputing from the observations (rather than adding deltas) keeps the totals right whatever
order events arrive in and however often an observation is updated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, Table, case, delete, func, select

from server.db.dialect import upsert
from server.db.models import Observation, TraceRollup

_CHUNK = 500
_obs: Table = Observation.__table__  # type: ignore[assignment]
_rollups: Table = TraceRollup.__table__  # type: ignore[assignment]
_COLUMNS = [c.name for c in _rollups.columns if not c.primary_key]


def refresh_trace_rollups(conn: Connection, traces: Iterable[tuple[str, str]]) -> None:
    by_project: dict[str, set[str]] = defaultdict(set)
    for project_id, trace_id in traces:
        by_project[project_id].add(trace_id)
    for project_id, ids in by_project.items():
        id_list = sorted(ids)
        for start in range(0, len(id_list), _CHUNK):
            _refresh(conn, project_id, id_list[start : start + _CHUNK])


def _refresh(conn: Connection, project_id: str, trace_ids: list[str]) -> None:
    c = _obs.c
    query = (
        select(
            c.trace_id,
            func.min(c.start_time).label("start_time"),
            func.max(func.coalesce(c.end_time, c.start_time)).label("end_time"),
            func.count().label("observation_count"),
            func.sum(case((c.type == "GENERATION", 1), else_=0)).label("generation_count"),
            func.sum(case((c.level == "ERROR", 1), else_=0)).label("error_count"),
            func.sum(c.input_tokens).label("input_tokens"),
            func.sum(c.output_tokens).label("output_tokens"),
            func.sum(c.total_tokens).label("total_tokens"),
            func.sum(c.total_cost).label("total_cost"),
        )
        .where(c.project_id == project_id, c.trace_id.in_(trace_ids))
        .group_by(c.trace_id)
    )
    rows = []
    for found in conn.execute(query).mappings():
        row = dict(found)
        row["project_id"] = project_id
        row["latency_ms"] = (row["end_time"] - row["start_time"]).total_seconds() * 1000.0
        for key in ("observation_count", "generation_count", "error_count"):
            row[key] = int(row[key])
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            row[key] = None if row[key] is None else int(row[key])
        row["total_cost"] = None if row["total_cost"] is None else float(row["total_cost"])
        rows.append(row)
    upsert(conn, _rollups, rows, key=("project_id", "trace_id"), update=_COLUMNS)
    gone = set(trace_ids) - {row["trace_id"] for row in rows}
    if gone:
        conn.execute(
            delete(_rollups).where(
                _rollups.c.project_id == project_id, _rollups.c.trace_id.in_(sorted(gone))
            )
        )
