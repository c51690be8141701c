from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.orm import Session

from server.db.models import Score
from server.ingest.sanitize import escape_text


@dataclass
class ScoreFilters:
    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    data_types: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    config_ids: list[str] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    observation_ids: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)
    dataset_run_ids: list[str] = field(default_factory=list)
    queue_ids: list[str] = field(default_factory=list)
    author_user_ids: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    value_min: float | None = None
    value_max: float | None = None
    from_timestamp: datetime | None = None
    to_timestamp: datetime | None = None


def after_cursor(
    session: Session,
    project_id: str,
    f: ScoreFilters,
    *,
    cursor: tuple[datetime, str] | None,
    limit: int,
) -> list[Score]:
    query = select(Score).where(Score.project_id == project_id)
    for column, values in (
        (Score.id, f.ids),
        (Score.name, f.names),
        (Score.source, f.sources),
        (Score.data_type, f.data_types),
        (Score.environment, f.environments),
        (Score.config_id, f.config_ids),
        (Score.trace_id, f.trace_ids),
        (Score.observation_id, f.observation_ids),
        (Score.session_id, f.session_ids),
        (Score.dataset_run_id, f.dataset_run_ids),
        (Score.queue_id, f.queue_ids),
        (Score.author_user_id, f.author_user_ids),
    ):
        if values:
            query = query.where(column.in_([escape_text(v) for v in values]))
    if f.values:
        query = query.where(_value_matches(f.values))
    if f.value_min is not None:
        query = query.where(Score.data_type == "NUMERIC", Score.value >= f.value_min)
    if f.value_max is not None:
        query = query.where(Score.data_type == "NUMERIC", Score.value <= f.value_max)
    if f.from_timestamp is not None:
        query = query.where(Score.timestamp >= f.from_timestamp)
    if f.to_timestamp is not None:
        query = query.where(Score.timestamp < f.to_timestamp)
    if cursor is not None:
        ts, score_id = cursor
        query = query.where(
            or_(Score.timestamp < ts, and_(Score.timestamp == ts, Score.id < score_id))
        )
    return list(
        session.scalars(query.order_by(Score.timestamp.desc(), Score.id.desc()).limit(limit))
    )


def _value_matches(values: list[str]) -> ColumnElement[bool]:
    """`value=` matches string values as given, and numeric values when the text is a number."""
    numbers = []
    for value in values:
        try:
            numbers.append(float(value))
        except ValueError:
            pass
    conditions: list[ColumnElement[bool]] = [
        Score.string_value.in_([escape_text(v) for v in values])
    ]
    if numbers:
        conditions.append(
            and_(Score.data_type.in_(["NUMERIC", "BOOLEAN"]), Score.value.in_(numbers))
        )
    return or_(*conditions)


def get(session: Session, project_id: str, score_id: str) -> Score | None:
    return session.get(Score, (project_id, score_id))


def delete_score(session: Session, project_id: str, score_id: str) -> bool:
    result = session.execute(
        delete(Score).where(Score.project_id == project_id, Score.id == score_id)
    )
    return bool(getattr(result, "rowcount", 0))
