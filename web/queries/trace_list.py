"""The traces list: one page of traces with their rollups, keyset-paginated, plus page extras.

Sorting by time walks the (project_id, timestamp) index newest first. Sorting by latency or
cost walks the rollup index on that column in two phases: first the traces where the value
is known (largest first), then those where it is unknown (no rollup row, or no cost), newest
id first. Splitting the NULLs into a phase of their own keeps them last on both databases
(they disagree on where NULL sorts) and lets Postgres read the rollup index backwards
instead of sorting the whole project.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    Select,
    SQLColumnExpression,
    Table,
    and_,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from server.db.dialect import Dialect, json_array_has_any, search_condition
from server.db.models import Observation, Score, Trace, TraceRollup
from server.ingest.sanitize import escape_text, restore

SortKey = Literal["time", "latency", "cost"]
SORTS: tuple[SortKey, ...] = ("time", "latency", "cost")
# Name and environment suggestions come from this many of the newest traces, never a full scan.
SUGGESTION_WINDOW = 2000
SUGGESTION_LIMIT = 200
# A latency or cost range matching fewer traces than this is looked up through its index.
SELECTIVE_ROWS = 2000

# A statement selecting the list's columns (SQLAlchemy 2.1 types each selected column).
ListSelect = Select[*tuple[Any, ...]]

_traces: Table = Trace.__table__  # type: ignore[assignment]
_JOIN = and_(TraceRollup.project_id == Trace.project_id, TraceRollup.trace_id == Trace.id)
_SORT_COLUMNS = {"latency": TraceRollup.latency_ms, "cost": TraceRollup.total_cost}


@dataclass(frozen=True)
class TraceListFilters:
    """What narrows the list. Text values are as the user typed them (not yet escaped)."""

    start: datetime | None = None
    end: datetime | None = None
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: tuple[str, ...] = ()
    environment: str | None = None
    errors_only: bool = False
    model: str | None = None
    min_latency_ms: float | None = None
    max_latency_ms: float | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    search: str | None = None


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the sort value and id of the last row shown.

    `value` is a datetime for sort "time"; for "latency"/"cost" a number, or None once the
    walk has reached the traces where that value is unknown.
    """

    sort: SortKey
    value: datetime | float | None
    id: str


@dataclass
class TraceListRow:
    id: str
    timestamp: datetime
    name: str | None
    user_id: str | None
    session_id: str | None
    environment: str
    tags: list[str]
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    total_cost: float | None
    error_count: int
    observation_count: int


@dataclass
class ScoreAverage:
    name: str
    data_type: str
    average: float
    count: int
    # A categorical score's value (the greatest, when a trace has several).
    label: str | None = None


@dataclass
class Suggestions:
    names: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


# --- cursors ------------------------------------------------------------------------------


def encode_cursor(cursor: Cursor) -> str:
    value = cursor.value
    key: str | float | None = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps({"s": cursor.sort, "k": key, "id": cursor.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str | None, sort: SortKey) -> Cursor | None:
    """The cursor in `text`, or None when it is missing, malformed or made for another sort."""
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or data.get("s") != sort:
        return None
    cursor_id, key = data.get("id"), data.get("k")
    if not isinstance(cursor_id, str):
        return None
    if sort == "time":
        moment = _moment(key)
        return None if moment is None else Cursor(sort, moment, cursor_id)
    if key is None:
        return Cursor(sort, None, cursor_id)
    if isinstance(key, bool) or not isinstance(key, int | float) or not math.isfinite(key):
        return None
    return Cursor(sort, float(key), cursor_id)


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def cursor_after(row: TraceListRow, sort: SortKey) -> Cursor:
    if sort == "time":
        return Cursor(sort, row.timestamp, row.id)
    return Cursor(sort, row.latency_ms if sort == "latency" else row.total_cost, row.id)


# --- the list -----------------------------------------------------------------------------


@dataclass
class _Where:
    traces: list[ColumnElement[bool]]  # on the traces table alone
    rollups: list[ColumnElement[bool]]  # on the joined rollup (NULL when there is none)

    @property
    def all(self) -> list[ColumnElement[bool]]:
        return self.traces + self.rollups


def _range(
    column: SQLColumnExpression[Any],
    low: float | None,
    high: float | None,
) -> list[ColumnElement[bool]]:
    conditions = []
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column <= high)
    return conditions


def _selective(session: Session, project_id: str, bounds: list[ColumnElement[bool]]) -> bool:
    """Whether a latency or cost range holds few of the project's traces (an index-only count).

    A selective range should drive the query from its rollup index; a loose one should only be
    checked on the rows met while the sort's own index is walked. SQLite keeps no statistics
    and always takes the range's index: for "latency over 5 s" it then joined and sorted 90 %
    of the project (0.9 s at 100k traces) to show the newest 50.
    """
    probe = (
        select(TraceRollup.trace_id)
        .where(TraceRollup.project_id == project_id, *bounds)
        .limit(SELECTIVE_ROWS)
        .subquery()
    )
    return (session.scalar(select(func.count()).select_from(probe)) or 0) < SELECTIVE_ROWS


def _conditions(
    session: Session, project_id: str, filters: TraceListFilters, sort: SortKey
) -> _Where:
    where: list[ColumnElement[bool]] = [Trace.project_id == project_id]
    on_rollup: list[ColumnElement[bool]] = []
    if filters.start is not None:
        where.append(Trace.timestamp >= filters.start)
    if filters.end is not None:
        where.append(Trace.timestamp <= filters.end)
    exact = (
        (Trace.name, filters.name),
        (Trace.user_id, filters.user_id),
        (Trace.session_id, filters.session_id),
        (Trace.environment, filters.environment),
    )
    where.extend(column == escape_text(value) for column, value in exact if value is not None)
    if filters.tags:
        tags = [escape_text(t) for t in filters.tags]
        where.append(json_array_has_any(Dialect.of(session), Trace.tags, tags))  # type: ignore[arg-type]
    if filters.errors_only:
        on_rollup.append(TraceRollup.error_count > 0)
    if filters.model is not None:
        with_model = select(Observation.trace_id).where(
            Observation.project_id == project_id, Observation.model == escape_text(filters.model)
        )
        where.append(Trace.id.in_(with_model))
    bounds = (
        ("latency", TraceRollup.latency_ms, filters.min_latency_ms, filters.max_latency_ms),
        ("cost", TraceRollup.total_cost, filters.min_cost, filters.max_cost),
    )
    for name, column, low, high in bounds:
        if low is None and high is None:
            continue
        indexed = name == sort or _selective(session, project_id, _range(column, low, high))
        # `+ 0` hides the column from the index: see _selective.
        on_rollup += _range(column if indexed else column + 0, low, high)
    if filters.search:
        where.append(search_condition(Dialect.of(session), _traces, filters.search))
    return _Where(where, on_rollup)


_TRACE_COLUMNS = (
    Trace.id,
    Trace.timestamp,
    Trace.name,
    Trace.user_id,
    Trace.session_id,
    Trace.environment,
    Trace.tags,
)
_ROLLUP_COLUMNS = (
    TraceRollup.latency_ms,
    TraceRollup.input_tokens,
    TraceRollup.output_tokens,
    TraceRollup.total_tokens,
    TraceRollup.total_cost,
    TraceRollup.error_count,
    TraceRollup.observation_count,
)


def _select(where: list[ColumnElement[bool]], *, outer: bool) -> ListSelect:
    query = select(*_TRACE_COLUMNS, *_ROLLUP_COLUMNS).select_from(Trace)
    query = query.outerjoin(TraceRollup, _JOIN) if outer else query.join(TraceRollup, _JOIN)
    return query.where(*where)


def _join_after_limit(page: ListSelect) -> ListSelect:
    """The rollups of a page of traces selected (and limited) from the traces table alone.

    Joining after the LIMIT looks up 51 rollups, not one per matching trace: when a filter
    that Postgres cannot estimate (tags, search) makes it scan and sort, the join stays small.
    """
    inner = page.add_columns(Trace.project_id).subquery("page")
    on = and_(TraceRollup.project_id == inner.c.project_id, TraceRollup.trace_id == inner.c.id)
    return (
        select(*(inner.c[c.key] for c in _TRACE_COLUMNS), *_ROLLUP_COLUMNS)
        .select_from(inner)
        .outerjoin(TraceRollup, on)
        .order_by(inner.c.timestamp.desc(), inner.c.id.desc())
    )


def _rows(session: Session, query: ListSelect) -> list[TraceListRow]:
    return [
        TraceListRow(
            id=r.id,
            timestamp=r.timestamp,
            name=restore(r.name),
            user_id=restore(r.user_id),
            session_id=restore(r.session_id),
            environment=r.environment,
            tags=[str(t) for t in restore(r.tags or [])],
            latency_ms=r.latency_ms,
            input_tokens=r.input_tokens,
            output_tokens=r.output_tokens,
            total_tokens=r.total_tokens,
            total_cost=r.total_cost,
            error_count=r.error_count or 0,
            observation_count=r.observation_count or 0,
        )
        for r in session.execute(query)
    ]


def list_traces(
    session: Session,
    project_id: str,
    filters: TraceListFilters,
    *,
    sort: SortKey = "time",
    cursor: Cursor | None = None,
    limit: int = 50,
) -> tuple[list[TraceListRow], Cursor | None]:
    """One page of traces and the cursor of the next page (None on the last page)."""
    where = _conditions(session, project_id, filters, sort)
    if sort == "time":
        rows = _by_time(session, where, cursor, limit + 1)
    else:
        rows = _by_rollup(session, where, filters, sort, cursor, limit + 1)
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, cursor_after(rows[-1], sort)


def _by_time(
    session: Session, where: _Where, cursor: Cursor | None, fetch: int
) -> list[TraceListRow]:
    if where.rollups:
        query = _select(where.all, outer=False)  # a rollup condition is never true without one
    else:
        query = select(*_TRACE_COLUMNS).where(*where.traces)
    if cursor is not None and isinstance(cursor.value, datetime):
        moment = cursor.value
        # (timestamp, id) < (t, id), written so that both databases can use the index: the
        # redundant `timestamp <= t` becomes the index bound.
        query = query.where(
            Trace.timestamp <= moment,
            or_(Trace.timestamp < moment, and_(Trace.timestamp == moment, Trace.id < cursor.id)),
        )
    query = query.order_by(Trace.timestamp.desc(), Trace.id.desc()).limit(fetch)
    return _rows(session, query if where.rollups else _join_after_limit(query))


def _by_rollup(
    session: Session,
    where: _Where,
    filters: TraceListFilters,
    sort: SortKey,
    cursor: Cursor | None,
    fetch: int,
) -> list[TraceListRow]:
    column = _SORT_COLUMNS[sort]
    rows: list[TraceListRow] = []
    if cursor is None or isinstance(cursor.value, float):
        known = _select(where.all, outer=False).where(column.is_not(None))
        if cursor is not None and isinstance(cursor.value, float):
            value = cursor.value
            known = known.where(
                column <= value, or_(column < value, and_(column == value, Trace.id < cursor.id))
            )
        # Plain DESC (no NULLS clause) on a non-NULL column: Postgres reads the index backwards.
        rows = _rows(session, known.order_by(column.desc(), Trace.id.desc()).limit(fetch))
        if len(rows) >= fetch:
            return rows
    bounded = (
        (filters.min_latency_ms, filters.max_latency_ms)
        if sort == "latency"
        else (filters.min_cost, filters.max_cost)
    )
    if any(b is not None for b in bounded):
        return rows  # a bound on the sorted value excludes the traces where it is unknown
    unknown = _select(where.all, outer=True).where(column.is_(None))
    if cursor is not None and cursor.value is None:
        unknown = unknown.where(Trace.id < cursor.id)
    unknown = unknown.order_by(Trace.id.desc()).limit(fetch - len(rows))
    return rows + _rows(session, unknown)


# --- page extras --------------------------------------------------------------------------


def score_averages(
    session: Session, project_id: str, trace_ids: list[str]
) -> dict[str, list[ScoreAverage]]:
    """Per trace on the page, its scores averaged per name (one query for the whole page)."""
    if not trace_ids:
        return {}
    query = (
        select(
            Score.trace_id,
            Score.name,
            Score.data_type,
            func.avg(Score.value),
            func.count(),
            func.max(Score.string_value),
        )
        .where(Score.project_id == project_id, Score.trace_id.in_(trace_ids))
        .group_by(Score.trace_id, Score.name, Score.data_type)
    )
    result: dict[str, list[ScoreAverage]] = {}
    for trace_id, name, data_type, average, count, label in session.execute(query):
        result.setdefault(trace_id, []).append(
            ScoreAverage(
                name=restore(name),
                data_type=data_type,
                average=float(average or 0.0),
                count=int(count),
                label=restore(label),
            )
        )
    for averages in result.values():
        averages.sort(key=lambda s: (s.name, s.data_type))
    return result


def suggestions(session: Session, project_id: str) -> Suggestions:
    """Recent trace names, environments and models, for the filter inputs' dropdowns."""
    recent = (
        select(Trace.name, Trace.environment)
        .where(Trace.project_id == project_id)
        .order_by(Trace.timestamp.desc())
        .limit(SUGGESTION_WINDOW)
        .subquery()
    )
    pairs = session.execute(
        select(recent.c.name, recent.c.environment).distinct().limit(SUGGESTION_LIMIT * 5)
    ).all()
    names = sorted({restore(n) for n, _ in pairs if n})[:SUGGESTION_LIMIT]
    environments = sorted({e for _, e in pairs if e})[:SUGGESTION_LIMIT]
    models = [restore(m) for m in _models(session, project_id)]
    return Suggestions(names=names, environments=environments, models=models)


def _models(session: Session, project_id: str) -> list[str]:
    """The project's distinct models, in order, each found by one lookup in the model index.

    A loose index scan (a recursive query stepping from one model to the next) costs a few
    index probes per model whatever the number of observations, where a DISTINCT would read
    every generation.
    """
    first = (
        select(Observation.model)
        .where(Observation.project_id == project_id, Observation.model.is_not(None))
        .order_by(Observation.model)
        .limit(1)
        .scalar_subquery()
    )
    found = select(first.label("model"), literal(1).label("n")).cte("models", recursive=True)
    later = aliased(Observation)
    following = (
        select(later.model)
        .where(later.project_id == project_id, later.model > found.c.model)
        .order_by(later.model)
        .limit(1)
        .scalar_subquery()
    )
    found = found.union_all(
        select(following, found.c.n + 1).where(
            found.c.model.is_not(None), found.c.n < SUGGESTION_LIMIT
        )
    )
    query = select(found.c.model).where(found.c.model.is_not(None)).order_by(found.c.model)
    return [m for m in session.scalars(query) if m]
