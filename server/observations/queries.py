from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from server.db.models import Observation, Trace
from server.ingest.sanitize import escape_text


@dataclass
class ObservationFilters:
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    type: str | None = None
    trace_id: str | None = None
    level: str | None = None
    parent_observation_id: str | None = None
    is_root: bool | None = None
    environments: list[str] = field(default_factory=list)
    from_start_time: datetime | None = None
    to_start_time: datetime | None = None
    version: str | None = None


def filtered(project_id: str, f: ObservationFilters) -> Select[Observation, Trace]:
    query = (
        select(Observation, Trace)
        .outerjoin(
            Trace,
            and_(Trace.project_id == Observation.project_id, Trace.id == Observation.trace_id),
        )
        .where(Observation.project_id == project_id)
    )
    equal = {
        Observation.name: f.name,
        Observation.type: f.type,
        Observation.trace_id: f.trace_id,
        Observation.level: f.level,
        Observation.parent_observation_id: f.parent_observation_id,
        Observation.version: f.version,
        Trace.user_id: f.user_id,
        Trace.session_id: f.session_id,
    }
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == escape_text(value))
    if f.is_root is not None:
        root = Observation.parent_observation_id.is_(None)
        query = query.where(root if f.is_root else ~root)
    if f.environments:
        query = query.where(Observation.environment.in_(f.environments))
    if f.from_start_time is not None:
        query = query.where(Observation.start_time >= f.from_start_time)
    if f.to_start_time is not None:
        query = query.where(Observation.start_time < f.to_start_time)
    return query


def page(
    session: Session, project_id: str, f: ObservationFilters, *, page: int, limit: int
) -> tuple[list[tuple[Observation, Trace | None]], int]:
    query = filtered(project_id, f)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ordered = query.order_by(Observation.start_time.desc(), Observation.id.desc())
    rows = session.execute(ordered.offset((page - 1) * limit).limit(limit)).all()
    return [(o, t) for o, t in rows], total


def after_cursor(
    session: Session,
    project_id: str,
    f: ObservationFilters,
    *,
    cursor: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[Observation, Trace | None]]:
    """Keyset pagination, newest first: stays fast however deep the client pages."""
    query = filtered(project_id, f)
    if cursor is not None:
        start, obs_id = cursor
        query = query.where(
            or_(
                Observation.start_time < start,
                and_(Observation.start_time == start, Observation.id < obs_id),
            )
        )
    ordered = query.order_by(Observation.start_time.desc(), Observation.id.desc()).limit(limit)
    return [(o, t) for o, t in session.execute(ordered).all()]


def get(session: Session, project_id: str, observation_id: str) -> Observation | None:
    return session.get(Observation, (project_id, observation_id))
