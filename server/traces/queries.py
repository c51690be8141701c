from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from server.db.models import Observation, Score, Trace
from server.ingest.sanitize import escape_text

ORDERABLE = {
    "id": Trace.id,
    "timestamp": Trace.timestamp,
    "name": Trace.name,
    "userId": Trace.user_id,
    "release": Trace.release,
    "version": Trace.version,
    "public": Trace.public,
    "bookmarked": Trace.bookmarked,
    "sessionId": Trace.session_id,
}


@dataclass
class TraceFilters:
    user_id: str | None = None
    name: str | None = None
    session_id: str | None = None
    version: str | None = None
    release: str | None = None
    from_timestamp: datetime | None = None
    to_timestamp: datetime | None = None
    tags: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)


@dataclass
class TraceAggregate:
    latency: float = 0.0
    # None while no observation has a known cost: unknown is not $0.
    total_cost: float | None = None
    observation_ids: list[str] = field(default_factory=list)
    score_ids: list[str] = field(default_factory=list)


def filtered_traces(project_id: str, filters: TraceFilters) -> Select[Trace]:
    query = select(Trace).where(Trace.project_id == project_id)
    equal = {
        Trace.user_id: filters.user_id,
        Trace.name: filters.name,
        Trace.session_id: filters.session_id,
        Trace.version: filters.version,
        Trace.release: filters.release,
    }
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == escape_text(value))
    if filters.from_timestamp is not None:
        query = query.where(Trace.timestamp >= filters.from_timestamp)
    if filters.to_timestamp is not None:
        query = query.where(Trace.timestamp < filters.to_timestamp)
    if filters.environments:
        query = query.where(Trace.environment.in_(filters.environments))
    return query


def list_traces(
    session: Session,
    project_id: str,
    filters: TraceFilters,
    *,
    order: tuple[str, str],
    page: int,
    limit: int,
) -> tuple[list[Trace], int]:
    query = filtered_traces(project_id, filters)
    column = ORDERABLE[order[0]]
    # Explicit NULL placement: the two databases disagree on the default.
    ordering = column.asc().nulls_first() if order[1] == "asc" else column.desc().nulls_last()
    if filters.tags:
        # Tags live in a JSON array; filtering them in Python keeps one query for both dialects.
        # The tag filter is rare and the scan stays within the project's time-ordered index.
        wanted = {escape_text(t) for t in filters.tags}
        rows = [
            t for t in session.scalars(query.order_by(ordering, Trace.id)) if wanted <= set(t.tags)
        ]
        return rows[(page - 1) * limit : page * limit], len(rows)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(
        session.scalars(query.order_by(ordering, Trace.id).offset((page - 1) * limit).limit(limit))
    )
    return rows, total


def get_trace(session: Session, project_id: str, trace_id: str) -> Trace | None:
    return session.get(Trace, (project_id, trace_id))


def observations_of(session: Session, project_id: str, trace_id: str) -> list[Observation]:
    query = (
        select(Observation)
        .where(Observation.project_id == project_id, Observation.trace_id == trace_id)
        .order_by(Observation.start_time, Observation.id)
    )
    return list(session.scalars(query))


def scores_of(session: Session, project_id: str, trace_id: str) -> list[Score]:
    query = (
        select(Score)
        .where(Score.project_id == project_id, Score.trace_id == trace_id)
        .order_by(Score.timestamp, Score.id)
    )
    return list(session.scalars(query))


def aggregates(
    session: Session, project_id: str, trace_ids: Sequence[str]
) -> dict[str, TraceAggregate]:
    """Latency, cost and child ids of several traces, in two queries."""
    if not trace_ids:
        return defaultdict(TraceAggregate)
    obs_query = select(
        Observation.trace_id,
        Observation.id,
        Observation.start_time,
        Observation.end_time,
        Observation.total_cost,
    ).where(Observation.project_id == project_id, Observation.trace_id.in_(trace_ids))
    result = totals(session.execute(obs_query.order_by(Observation.start_time)).all())
    score_query = select(Score.trace_id, Score.id).where(
        Score.project_id == project_id, Score.trace_id.in_(trace_ids)
    )
    for scored_trace, score_id in session.execute(score_query):
        if scored_trace is not None:
            result[scored_trace].score_ids.append(score_id)
    return result


def sum_details(maps: Iterable[dict[str, Any] | None]) -> dict[str, float]:
    """Per-key sums of usage or cost maps (keys absent everywhere stay absent)."""
    total: dict[str, float] = {}
    for details in maps:
        for key, value in (details or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return total


ObservationTiming = tuple[str, str, datetime, datetime | None, float | None]


def totals(rows: Iterable[ObservationTiming]) -> dict[str, TraceAggregate]:
    """Per trace: observation ids, total cost, and latency from the first start to the last end.

    Rows are (trace id, observation id, start, end, cost), ordered by start.
    """
    result: dict[str, TraceAggregate] = defaultdict(TraceAggregate)
    bounds: dict[str, list[datetime]] = {}
    for trace_id, obs_id, start, end, cost in rows:
        agg = result[trace_id]
        agg.observation_ids.append(obs_id)
        if cost is not None:
            agg.total_cost = (agg.total_cost or 0.0) + cost
        first_last = bounds.setdefault(trace_id, [start, end or start])
        first_last[0] = min(first_last[0], start)
        first_last[1] = max(first_last[1], end or start)
    for trace_id, (first, last) in bounds.items():
        result[trace_id].latency = (last - first).total_seconds()
    return result


def delete_traces(session: Session, project_id: str, trace_ids: Sequence[str]) -> int:
    """Delete traces with their observations and scores; returns how many traces existed."""
    ids = list(trace_ids)
    session.execute(
        delete(Observation).where(
            Observation.project_id == project_id, Observation.trace_id.in_(ids)
        )
    )
    session.execute(delete(Score).where(Score.project_id == project_id, Score.trace_id.in_(ids)))
    result = session.execute(delete(Trace).where(Trace.project_id == project_id, Trace.id.in_(ids)))
    return int(getattr(result, "rowcount", 0) or 0)
