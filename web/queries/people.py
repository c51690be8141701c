"""Users: the traces of a project grouped by `user_id`.

The list uses the same bounded walk as sessions (`web.queries.sessions.group_page`), through
the (project_id, timestamp) and (project_id, user_id, timestamp) indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from server.db.models import Trace, TraceRollup
from server.ingest.sanitize import escape_text
from web.queries.sessions import Cursor, TraceFilter, conditions

# A user's chart reads one row per trace; past this many it shows the oldest part and says so.
CHART_ROW_CAP = 50_000


def user_exists(session: Session, project_id: str, user_id: str) -> bool:
    query = select(Trace.id).where(
        Trace.project_id == project_id, Trace.user_id == escape_text(user_id)
    )
    return session.scalar(query.limit(1)) is not None


def session_count(session: Session, project_id: str, where: TraceFilter) -> int:
    query = select(func.count(distinct(Trace.session_id))).where(
        *conditions(project_id, where), Trace.session_id.is_not(None)
    )
    return int(session.scalar(query) or 0)


@dataclass
class UsagePoint:
    timestamp: datetime
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None


def usage_points(
    session: Session, project_id: str, where: TraceFilter, cap: int = CHART_ROW_CAP
) -> list[UsagePoint]:
    """One point per trace, oldest first; `cap + 1` rows at most (more means capped)."""
    query = (
        select(
            Trace.timestamp,
            TraceRollup.input_tokens,
            TraceRollup.output_tokens,
            TraceRollup.total_cost,
        )
        .select_from(Trace)
        .outerjoin(
            TraceRollup,
            (TraceRollup.project_id == Trace.project_id) & (TraceRollup.trace_id == Trace.id),
        )
        .where(*conditions(project_id, where))
        .order_by(Trace.timestamp)
        .limit(cap + 1)
    )
    return [
        UsagePoint(
            moment,
            None if tin is None else int(tin),
            None if tout is None else int(tout),
            None if cost is None else float(cost),
        )
        for moment, tin, tout, cost in session.execute(query)
    ]


@dataclass
class TraceLine:
    id: str
    name: str | None
    timestamp: datetime
    session_id: str | None
    latency_ms: float | None
    total_tokens: int | None
    cost: float | None
    errors: int


def recent_traces(
    session: Session, project_id: str, where: TraceFilter, *, before: Cursor | None, limit: int
) -> list[TraceLine]:
    """Newest first, without input/output; `limit + 1` rows tell if more follow."""
    query = (
        select(
            Trace.id,
            Trace.name,
            Trace.timestamp,
            Trace.session_id,
            TraceRollup.latency_ms,
            TraceRollup.total_tokens,
            TraceRollup.total_cost,
            TraceRollup.error_count,
        )
        .select_from(Trace)
        .outerjoin(
            TraceRollup,
            (TraceRollup.project_id == Trace.project_id) & (TraceRollup.trace_id == Trace.id),
        )
        .where(*conditions(project_id, where))
    )
    if before is not None:
        query = query.where(
            Trace.timestamp <= before.timestamp,
            or_(Trace.timestamp < before.timestamp, Trace.id < before.id),
        )
    rows = session.execute(query.order_by(Trace.timestamp.desc(), Trace.id.desc()).limit(limit + 1))
    return [
        TraceLine(
            trace_id,
            name,
            moment,
            session_id,
            None if latency is None else float(latency),
            None if tokens is None else int(tokens),
            None if cost is None else float(cost),
            int(errors or 0),
        )
        for trace_id, name, moment, session_id, latency, tokens, cost, errors in rows
    ]
