"""Reads of the trace detail page.

The tree is built from three columns of every observation (id, parent, start), one indexed
read (`ix_observations_project_trace`) that stays quick for thousands of observations. The
columns a row displays are then read for the rows being rendered only, and input, output and
metadata for the selected node only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from server.db.models import Observation, Score, Trace, TraceRollup, User
from web.tree import Node


@dataclass(frozen=True, slots=True)
class SkeletonRow:
    id: str
    parent_observation_id: str | None
    type: str
    name: str | None
    start_time: datetime
    end_time: datetime | None
    completion_start_time: datetime | None
    model: str | None
    level: str
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    total_cost: float | None
    duration_ms: float | None


_SKELETON_COLUMNS = (
    Observation.id,
    Observation.parent_observation_id,
    Observation.type,
    Observation.name,
    Observation.start_time,
    Observation.end_time,
    Observation.completion_start_time,
    Observation.model,
    Observation.level,
    Observation.input_tokens,
    Observation.output_tokens,
    Observation.total_tokens,
    Observation.total_cost,
    Observation.duration_ms,
)


def get_trace(
    session: Session, project_id: str, trace_id: str, *, io: bool = False
) -> Trace | None:
    """The trace; its input and output are loaded on first access unless `io` is set."""
    options = [] if io else [defer(Trace.input), defer(Trace.output)]
    return session.get(Trace, (project_id, trace_id), options=options)


def get_rollup(session: Session, project_id: str, trace_id: str) -> TraceRollup | None:
    return session.get(TraceRollup, (project_id, trace_id))


def tree_nodes(session: Session, project_id: str, trace_id: str) -> list[Node]:
    query = select(Observation.id, Observation.parent_observation_id, Observation.start_time).where(
        Observation.project_id == project_id, Observation.trace_id == trace_id
    )
    # Core rows, not ORM: on thousands of rows the ORM's per-row bookkeeping is most of the cost.
    rows = cast(Iterable[tuple[str, str | None, datetime]], session.connection().execute(query))
    return [Node(*row) for row in rows]


def time_span(session: Session, project_id: str, trace_id: str) -> tuple[datetime, datetime] | None:
    """From the first start to the last end, as the rollup has it (computed if it is missing)."""
    rollup = get_rollup(session, project_id, trace_id)
    if rollup is not None:
        return rollup.start_time, rollup.end_time
    query = select(
        func.min(Observation.start_time),
        func.max(func.coalesce(Observation.end_time, Observation.start_time)),
    ).where(Observation.project_id == project_id, Observation.trace_id == trace_id)
    first, last = session.execute(query).one()
    return None if first is None else (first, last)


def skeleton_rows(
    session: Session, project_id: str, trace_id: str, ids: list[str]
) -> dict[str, SkeletonRow]:
    """What the tree shows of these observations (a window's worth, a few hundred at most)."""
    found: dict[str, SkeletonRow] = {}
    for start in range(0, len(ids), 500):
        query = select(*_SKELETON_COLUMNS).where(
            Observation.project_id == project_id,
            Observation.trace_id == trace_id,
            Observation.id.in_(ids[start : start + 500]),
        )
        rows = cast(Iterable[tuple[Any, ...]], session.connection().execute(query))
        found.update((row[0], SkeletonRow(*row)) for row in rows)
    return found


def get_observation(
    session: Session, project_id: str, trace_id: str, observation_id: str
) -> Observation | None:
    """One observation with everything, if it belongs to this trace."""
    found = session.get(Observation, (project_id, observation_id))
    if found is None or found.trace_id != trace_id:
        return None
    return found


def user_emails(session: Session, user_ids: set[str]) -> dict[str, str]:
    """Emails of score authors (annotations), by user id."""
    if not user_ids:
        return {}
    query = select(User.id, User.email).where(User.id.in_(sorted(user_ids)))
    return {user_id: email for user_id, email in session.execute(query)}


def scores_of_trace(session: Session, project_id: str, trace_id: str) -> list[Score]:
    query = (
        select(Score)
        .where(Score.project_id == project_id, Score.trace_id == trace_id)
        .order_by(Score.timestamp, Score.id)
    )
    return list(session.scalars(query))
