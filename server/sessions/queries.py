from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from server.db.models import Trace


def _sessions(
    project_id: str, from_ts: datetime | None, to_ts: datetime | None, environments: list[str]
) -> Select[str | None, datetime, str]:
    query = (
        select(
            Trace.session_id,
            func.min(Trace.timestamp).label("created_at"),
            func.min(Trace.environment).label("environment"),
        )
        .where(Trace.project_id == project_id, Trace.session_id.is_not(None))
        .group_by(Trace.session_id)
    )
    if environments:
        query = query.where(Trace.environment.in_(environments))
    if from_ts is not None:
        query = query.having(func.min(Trace.timestamp) >= from_ts)
    if to_ts is not None:
        query = query.having(func.min(Trace.timestamp) < to_ts)
    return query


def list_sessions(
    session: Session,
    project_id: str,
    *,
    from_ts: datetime | None,
    to_ts: datetime | None,
    environments: list[str],
    page: int,
    limit: int,
) -> tuple[list[tuple[str, datetime, str]], int]:
    """Sessions are the distinct session ids of a project's traces."""
    query = _sessions(project_id, from_ts, to_ts, environments)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(func.min(Trace.timestamp).desc(), Trace.session_id)
        .offset((page - 1) * limit)
        .limit(limit)
    ).all()
    return [(str(r[0]), r[1], r[2]) for r in rows], total


def traces_of_session(session: Session, project_id: str, session_id: str) -> list[Trace]:
    query = (
        select(Trace)
        .where(Trace.project_id == project_id, Trace.session_id == session_id)
        .order_by(Trace.timestamp, Trace.id)
    )
    return list(session.scalars(query))
