"""Hourly rollups for the metrics page: marking hours dirty, rebuilding them, reading them.

The ingest writer marks each project-hour its transaction touched (`mark_dirty_hours`, in
the same transaction). The metrics page reads dirty (and open) hours from the raw rows, and
after answering has the closed ones rebuilt (`refresh_hours`) for the next view: DELETE the
project-hour's rows, aggregate its raw rows again, INSERT, clear the mark — under an
advisory lock per project-hour, so two replicas never rebuild the same hour at once.
Rebuilding (rather than adding deltas) keeps the totals right whatever order events arrive
in and however often a row is updated.

Aggregation happens here in Python, for both databases: the same code turns raw rows into
groups when rebuilding an hour and when the page reads hours that are still open or dirty,
so stored and fresh figures can never disagree. Durations and latencies are kept as
histograms of log bins 10 % wide; percentiles taken from them are within 5 % of the exact ones.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, assert_never

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from server.db.dialect import Dialect, lock_keys, upsert
from server.db.models import (
    MetricDirtyHour,
    Observation,
    Score,
    Trace,
    TraceRollup,
    metric_hours,
    prompt_score_hours,
    trace_hours,
    user_hours,
)
from server.ingest.records import Kind
from server.pricing.usage_types import cost_by_type

log = logging.getLogger("spyglass.metrics")

HOUR = timedelta(hours=1)
MODEL_CALLS = frozenset(("GENERATION", "EMBEDDING"))
# Scores whose numeric value means something when averaged (categorical ones are stored as 0).
AVERAGED_SCORES = ("NUMERIC", "BOOLEAN")
_LOG_STEP = math.log(1.1)
ZERO_BIN = -1_000_000  # durations of 0 ms (or less, from clients with skewed clocks)
_CHUNK = 500

_dirty: Table = MetricDirtyHour.__table__  # type: ignore[assignment]
_obs: Table = Observation.__table__  # type: ignore[assignment]
_traces: Table = Trace.__table__  # type: ignore[assignment]
_trace_rollups: Table = TraceRollup.__table__  # type: ignore[assignment]
_scores: Table = Score.__table__  # type: ignore[assignment]


# --- time and histograms -----------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def hour_of(moment: datetime) -> datetime:
    return _utc(moment).replace(minute=0, second=0, microsecond=0)


def next_hour(moment: datetime) -> datetime:
    """The first hour boundary at or after `moment`."""
    floor = hour_of(moment)
    return floor if floor == _utc(moment) else floor + HOUR


def bin_of(ms: float) -> int:
    return ZERO_BIN if ms <= 0 else math.floor(math.log(ms) / _LOG_STEP)


def bin_value(b: int) -> float:
    """The geometric middle of a bin: at most 4.9 % from any value in it."""
    return 0.0 if b == ZERO_BIN else math.exp((b + 0.5) * _LOG_STEP)


def encode(histogram: Mapping[int, int]) -> str | None:
    if not histogram:
        return None
    flat: list[int] = []
    for b in sorted(histogram):
        flat += (b, histogram[b])
    return orjson.dumps(flat).decode()


def add_encoded(histogram: Counter[int], text: str | None) -> None:
    """Add an encoded histogram, or several joined by commas (see `joined`)."""
    if text:
        get = histogram.get
        for flat in orjson.loads("[" + text + "]"):
            for b, count in zip(flat[::2], flat[1::2], strict=True):
                histogram[b] = get(b, 0) + count


def joined(session: Session, column: Any) -> ColumnElement[str]:
    """An aggregate joining a group's encoded histograms with commas."""
    dialect = Dialect.of(session)
    if dialect is Dialect.SQLITE:
        return func.group_concat(column, ",")
    if dialect is Dialect.POSTGRESQL:
        return func.string_agg(column, ",")
    assert_never(dialect)


def histogram_percentiles(histogram: Mapping[int, int], ps: Sequence[float]) -> list[float | None]:
    """percentile_cont of the values a histogram stands for, each value taken as its bin's
    middle: the same ranks and interpolation as the exact figures (`web.metrics.rank`)."""
    n = sum(histogram.values())
    if n <= 0:
        return [None for _ in ps]
    ordered = sorted(histogram.items())

    def at(rank: int) -> float:
        seen = 0
        for b, count in ordered:
            seen += count
            if rank < seen:
                return bin_value(b)
        return bin_value(ordered[-1][0])

    found: list[float | None] = []
    for p in ps:
        position = p * (n - 1)
        lo = math.floor(position)
        low, high = at(lo), at(math.ceil(position))
        found.append(low + (high - low) * (position - lo))
    return found


# --- groups ------------------------------------------------------------------------------


@dataclass(slots=True)
class Group:
    """Totals of the observations of one hour, environment and dimension key."""

    observations: int = 0
    model_calls: int = 0
    errors: int = 0
    model_call_errors: int = 0
    unpriced: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    durations: Counter[int] = field(default_factory=Counter)

    def merge(self, other: Group) -> None:
        self.observations += other.observations
        self.model_calls += other.model_calls
        self.errors += other.errors
        self.model_call_errors += other.model_call_errors
        self.unpriced += other.unpriced
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        if other.cost is not None:
            self.cost = other.cost if self.cost is None else self.cost + other.cost
        self.durations.update(other.durations)


@dataclass(slots=True)
class TraceGroup:
    traces: int = 0
    error_traces: int = 0
    latencies: Counter[int] = field(default_factory=Counter)

    def merge(self, other: TraceGroup) -> None:
        self.traces += other.traces
        self.error_traces += other.error_traces
        self.latencies.update(other.latencies)


# (hour, environment, dimension, key, version)
GroupKey = tuple[datetime, str, str, str | None, int | None]
TraceKey = tuple[datetime, str]  # (hour, environment)

_OBS_COLUMNS = (
    _obs.c.start_time,
    _obs.c.environment,
    _obs.c.type,
    _obs.c.level,
    _obs.c.model,
    _obs.c.name,
    _obs.c.prompt_name,
    _obs.c.prompt_version,
    _obs.c.total_cost,
    _obs.c.input_tokens,
    _obs.c.output_tokens,
    _obs.c.duration_ms,
    _obs.c.cost_details,
)


def aggregate_observations(rows: Iterable[Sequence[Any]]) -> dict[GroupKey, Group]:
    """Rows of `_OBS_COLUMNS`, summed per hour, environment and dimension key."""
    groups: dict[GroupKey, Group] = {}
    for start, env, kind, level, model, name, prompt, version, cost, tin, tout, ms, details in rows:
        hour = hour_of(start)
        call = kind in MODEL_CALLS
        error = level == "ERROR"
        b = None if ms is None else bin_of(ms)
        keys: list[tuple[GroupKey, bool]] = [
            ((hour, env, "model", model, None), call),  # model durations: model calls only
            ((hour, env, "name", name, None), True),
        ]
        if prompt is not None:
            keys.append(((hour, env, "prompt", prompt, version), True))
        for key, timed in keys:
            g = groups.get(key)
            if g is None:
                g = groups[key] = Group()
            g.observations += 1
            if error:
                g.errors += 1
            if call:
                g.model_calls += 1
                if error:
                    g.model_call_errors += 1
                if cost is None:
                    g.unpriced += 1
            if tin is not None:
                g.input_tokens += tin
            if tout is not None:
                g.output_tokens += tout
            if cost is not None:
                g.cost = cost if g.cost is None else g.cost + cost
            if timed and b is not None:
                g.durations[b] += 1
        for usage, amount in cost_by_type(details).items():
            key = (hour, env, "usage", usage, None)
            g = groups.get(key)
            if g is None:
                g = groups[key] = Group()
            g.observations += 1
            g.cost = amount if g.cost is None else g.cost + amount
    return groups


def aggregate_traces(rows: Iterable[Sequence[Any]]) -> dict[TraceKey, TraceGroup]:
    """Rows of (timestamp, environment, error_count, latency_ms) summed per hour and env."""
    groups: dict[TraceKey, TraceGroup] = {}
    for timestamp, env, error_count, latency in rows:
        key = (hour_of(timestamp), env)
        g = groups.get(key)
        if g is None:
            g = groups[key] = TraceGroup()
        g.traces += 1
        if error_count:
            g.error_traces += 1
        if latency is not None:
            g.latencies[bin_of(latency)] += 1
    return groups


def raw_observations(
    conn: Connection | Session,
    project_id: str,
    start: datetime,
    end: datetime,
    environment: str | None = None,
) -> dict[GroupKey, Group]:
    o = _obs.c
    query = select(*_OBS_COLUMNS).where(
        o.project_id == project_id, o.start_time >= start, o.start_time < end
    )
    if environment is not None:
        query = query.where(o.environment == environment)
    return aggregate_observations(conn.execute(query))


UserKey = tuple[str, str]  # (environment, user)
UserTotals = tuple[int, int, int, float | None]  # traces, error traces, tokens, cost


def raw_users(
    conn: Connection | Session,
    project_id: str,
    start: datetime,
    end: datetime,
    environment: str | None = None,
) -> dict[UserKey, UserTotals]:
    """Per environment and user: traces, error traces, tokens and cost of traces in range."""
    t, r = _traces.c, _trace_rollups.c
    query = (
        select(
            t.environment,
            t.user_id,
            func.count(),
            func.coalesce(func.sum(case((r.error_count > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(r.total_tokens), 0),
            func.sum(r.total_cost),
        )
        .select_from(_traces)
        .outerjoin(_trace_rollups, and_(r.project_id == t.project_id, r.trace_id == t.id))
        .where(
            t.project_id == project_id,
            t.timestamp >= start,
            t.timestamp < end,
            t.user_id.is_not(None),
        )
        .group_by(t.environment, t.user_id)
    )
    if environment is not None:
        query = query.where(t.environment == environment)
    return {
        (env, user): (int(n), int(e), int(tokens), None if cost is None else float(cost))
        for env, user, n, e, tokens, cost in conn.execute(query)
    }


def stored_users(
    session: Session,
    project_id: str,
    start: datetime,
    end: datetime,
    environment: str | None,
    skip: Iterable[datetime],
) -> dict[str, UserTotals]:
    u = user_hours.c
    query = select(
        u.user_id,
        func.sum(u.traces),
        func.sum(u.error_traces),
        func.sum(u.tokens),
        func.sum(u.cost),
    ).where(u.project_id == project_id, u.hour >= start, u.hour < end)
    if environment is not None:
        query = query.where(u.environment == environment)
    skipped = sorted(skip)
    if skipped:
        query = query.where(u.hour.not_in(skipped))
    return {
        user: (int(n), int(e), int(tokens), None if cost is None else float(cost))
        for user, n, e, tokens, cost in session.execute(query.group_by(u.user_id))
    }


def raw_traces(
    conn: Connection | Session,
    project_id: str,
    start: datetime,
    end: datetime,
    environment: str | None = None,
) -> dict[TraceKey, TraceGroup]:
    t, r = _traces.c, _trace_rollups.c
    query = (
        select(t.timestamp, t.environment, r.error_count, r.latency_ms)
        .select_from(_traces)
        .outerjoin(_trace_rollups, and_(r.project_id == t.project_id, r.trace_id == t.id))
        .where(t.project_id == project_id, t.timestamp >= start, t.timestamp < end)
    )
    if environment is not None:
        query = query.where(t.environment == environment)
    return aggregate_traces(conn.execute(query))


# --- marking (the ingest writer) ---------------------------------------------------------

Row = dict[str, Any]


def mark_dirty_hours(
    conn: Connection,
    rows: Mapping[tuple[Any, str, str], Row],
    existing: Mapping[Any, Mapping[tuple[str, str], Row]],
) -> None:
    """Mark the hours a write transaction changed: each written observation's start (before
    and after), each written trace's timestamp (before and after), the timestamps of the
    traces whose observations changed (their latency and errors live in that hour), and for
    a score the hours of its trace's observations (for the prompt-version scores)."""
    hours: set[tuple[str, datetime]] = set()
    traces: set[tuple[str, str]] = set()
    scored: set[tuple[str, str]] = set()
    for (kind, project_id, row_id), row in rows.items():
        before = existing[kind].get((project_id, row_id))
        if kind is Kind.OBSERVATION:
            hours.add((project_id, hour_of(row["start_time"])))
            if before is not None:
                hours.add((project_id, hour_of(before["start_time"])))
                traces.add((project_id, before["trace_id"]))
            # A provisional update that named no trace holds its own id as a placeholder.
            if not (row["provisional"] and row["trace_id"] == row["id"]):
                traces.add((project_id, row["trace_id"]))
                moved = before is None or before["start_time"] != row["start_time"]
                if row.get("prompt_name") is not None and moved:
                    # It may now be its trace's first use of the prompt version, whose hour
                    # holds the trace's scores for that version (see `prompt_score_hours`).
                    scored.add((project_id, row["trace_id"]))
        elif kind is Kind.TRACE:
            hours.add((project_id, hour_of(row["timestamp"])))
            if before is not None:
                hours.add((project_id, hour_of(before["timestamp"])))
        elif kind is Kind.SCORE:
            for score in (row, before):
                if score is not None and score.get("trace_id"):
                    scored.add((project_id, score["trace_id"]))
    stored_traces = existing[Kind.TRACE]
    unknown: set[tuple[str, str]] = set()
    for project_id, trace_id in traces:
        found = rows.get((Kind.TRACE, project_id, trace_id)) or stored_traces.get(
            (project_id, trace_id)
        )
        if found is not None:
            hours.add((project_id, hour_of(found["timestamp"])))
        else:
            unknown.add((project_id, trace_id))
    t, o = _traces.c, _obs.c
    for project_id, ids in _by_project(unknown):
        query = select(t.timestamp).where(t.project_id == project_id, t.id.in_(ids))
        hours.update((project_id, hour_of(ts)) for ts in conn.scalars(query))
    for project_id, ids in _by_project(scored):
        query = select(o.start_time).where(o.project_id == project_id, o.trace_id.in_(ids))
        hours.update((project_id, hour_of(ts)) for ts in conn.scalars(query))
    mark(conn, hours)


def _by_project(pairs: Iterable[tuple[str, str]]) -> Iterator[tuple[str, list[str]]]:
    grouped: dict[str, set[str]] = {}
    for project_id, item in pairs:
        grouped.setdefault(project_id, set()).add(item)
    for project_id, items in grouped.items():
        ordered = sorted(items)
        for start in range(0, len(ordered), _CHUNK):
            yield project_id, ordered[start : start + _CHUNK]


def mark(conn: Connection, hours: Iterable[tuple[str, datetime]]) -> None:
    """One upsert of dirty marks, in a fixed order (two replicas never deadlock on them)."""
    token = uuid.uuid4().hex
    marks = [
        {"project_id": project_id, "hour": hour, "token": token}
        for project_id, hour in sorted(set(hours))
    ]
    upsert(conn, _dirty, marks, key=("project_id", "hour"), update=("token",))


# --- refreshing --------------------------------------------------------------------------


def _lock_key(project_id: str, hour: datetime) -> str:
    return f"metric-hour:{project_id}:{hour.isoformat()}"


def refresh_hour(conn: Connection, project_id: str, hour: datetime) -> bool:
    """Rebuild one project-hour if it is still marked dirty; inside the caller's transaction.

    Returns whether it was rebuilt."""
    lock_keys(conn, [_lock_key(project_id, hour)])
    d = _dirty.c
    seen = conn.execute(
        select(d.token).where(d.project_id == project_id, d.hour == hour)
    ).scalar_one_or_none()
    if seen is None:
        return False  # another refresher got there first
    end = hour + HOUR
    groups = raw_observations(conn, project_id, hour, end)
    traces = raw_traces(conn, project_id, hour, end)
    prompt_scores = _prompt_scores(conn, project_id, hour)
    users = raw_users(conn, project_id, hour, end)
    u = user_hours.c
    conn.execute(delete(user_hours).where(u.project_id == project_id, u.hour == hour))
    if users:
        conn.execute(
            insert(user_hours),
            [
                {
                    "project_id": project_id,
                    "hour": hour,
                    "environment": env,
                    "user_id": user,
                    "traces": n,
                    "error_traces": e,
                    "tokens": tokens,
                    "cost": cost,
                }
                for (env, user), (n, e, tokens, cost) in users.items()
            ],
        )
    m, th, ps = metric_hours.c, trace_hours.c, prompt_score_hours.c
    conn.execute(delete(metric_hours).where(m.project_id == project_id, m.hour == hour))
    conn.execute(delete(trace_hours).where(th.project_id == project_id, th.hour == hour))
    conn.execute(delete(prompt_score_hours).where(ps.project_id == project_id, ps.hour == hour))
    if prompt_scores:
        conn.execute(
            insert(prompt_score_hours),
            [
                {
                    "project_id": project_id,
                    "hour": hour,
                    "environment": env,
                    "prompt_name": prompt,
                    "prompt_version": version,
                    "score_name": name,
                    "total": total,
                    "count": count,
                }
                for (env, prompt, version, name), (total, count) in prompt_scores.items()
            ],
        )
    if groups:
        conn.execute(
            insert(metric_hours),
            [
                {
                    "project_id": project_id,
                    "hour": hour,
                    "environment": env,
                    "dimension": dimension,
                    "key": key,
                    "version": version,
                    "observations": g.observations,
                    "model_calls": g.model_calls,
                    "errors": g.errors,
                    "model_call_errors": g.model_call_errors,
                    "unpriced": g.unpriced,
                    "input_tokens": g.input_tokens,
                    "output_tokens": g.output_tokens,
                    "cost": g.cost,
                    "durations": encode(g.durations),
                }
                for (_, env, dimension, key, version), g in groups.items()
            ],
        )
    if traces:
        conn.execute(
            insert(trace_hours),
            [
                {
                    "project_id": project_id,
                    "hour": hour,
                    "environment": env,
                    "traces": g.traces,
                    "error_traces": g.error_traces,
                    "latencies": encode(g.latencies),
                }
                for (_, env), g in traces.items()
            ],
        )
    # A write that marked the hour again after we read it changed the token: keep its mark.
    conn.execute(delete(_dirty).where(d.project_id == project_id, d.hour == hour, d.token == seen))
    return True


PromptScoreKey = tuple[str, str, int | None, str]  # (environment, prompt, version, score)


def _prompt_scores(
    conn: Connection, project_id: str, hour: datetime
) -> dict[PromptScoreKey, tuple[float, int]]:
    """Score sums of the traces whose first use of a prompt version falls in this hour."""
    o, sc = _obs.c, _scores.c
    in_hour = (
        select(o.trace_id)
        .where(
            o.project_id == project_id,
            o.start_time >= hour,
            o.start_time < hour + HOUR,
            o.prompt_name.is_not(None),
        )
        .distinct()
    )
    candidates = list(conn.scalars(in_hour))
    uses: list[tuple[str, str, str, int | None]] = []  # (trace, env, prompt, version)
    for _, ids in _by_project((project_id, t) for t in candidates):
        first_use = (
            select(
                o.trace_id, o.environment, o.prompt_name, o.prompt_version, func.min(o.start_time)
            )
            .where(o.project_id == project_id, o.trace_id.in_(ids), o.prompt_name.is_not(None))
            .group_by(o.trace_id, o.environment, o.prompt_name, o.prompt_version)
        )
        uses += [
            (trace, env, prompt, version)
            for trace, env, prompt, version, first in conn.execute(first_use)
            if hour_of(first) == hour
        ]
    scores: dict[str, list[tuple[str, float, int]]] = {}
    for _, ids in _by_project((project_id, use[0]) for use in uses):
        query = (
            select(sc.trace_id, sc.name, func.sum(sc.value), func.count())
            .where(
                sc.project_id == project_id,
                sc.trace_id.in_(ids),
                sc.data_type.in_(AVERAGED_SCORES),
            )
            .group_by(sc.trace_id, sc.name)
        )
        for trace, name, total, count in conn.execute(query):
            scores.setdefault(trace, []).append((name, float(total), int(count)))
    found: dict[PromptScoreKey, tuple[float, int]] = {}
    for trace, env, prompt, version in uses:
        for name, total, count in scores.get(trace, []):
            key = (env, prompt, version, name)
            before = found.get(key, (0.0, 0))
            found[key] = (before[0] + total, before[1] + count)
    return found


def stored_prompt_scores(
    session: Session,
    project_id: str,
    start: datetime,
    end: datetime,
    environment: str | None,
    skip: Iterable[datetime],
) -> list[tuple[str, int | None, str, float, int]]:
    ps = prompt_score_hours.c
    query = select(
        ps.prompt_name, ps.prompt_version, ps.score_name, func.sum(ps.total), func.sum(ps.count)
    ).where(ps.project_id == project_id, ps.hour >= start, ps.hour < end)
    if environment is not None:
        query = query.where(ps.environment == environment)
    skipped = sorted(skip)
    if skipped:
        query = query.where(ps.hour.not_in(skipped))
    query = query.group_by(ps.prompt_name, ps.prompt_version, ps.score_name)
    return [
        (prompt, version, name, float(total), int(count))
        for prompt, version, name, total, count in session.execute(query)
    ]


def dirty_table() -> Table:
    return _dirty


def refresh_dirty(engine: Engine, now: datetime, *, limit: int | None = None) -> int:
    """Rebuild the closed dirty hours of every project (newest first); returns how many.

    The open hour stays dirty: the page reads it from the raw rows until it closes."""
    d = _dirty.c
    query = select(d.project_id, d.hour).where(d.hour <= hour_of(now) - HOUR)
    query = query.order_by(d.hour.desc(), d.project_id).limit(limit)
    with engine.connect() as conn:
        due = [(project_id, _utc(hour)) for project_id, hour in conn.execute(query)]
        conn.rollback()
    return refresh_hours(engine, due)


def refresh_hours(engine: Engine, hours: Iterable[tuple[str, datetime]]) -> int:
    """Rebuild the given project-hours that are still dirty, one short transaction each (on
    SQLite each holds the write lock for a few milliseconds, not for the whole backlog)."""
    done = 0
    for project_id, hour in hours:
        with engine.connect().execution_options(write_lock=True) as conn, conn.begin():
            done += refresh_hour(conn, project_id, hour)
    return done


# --- reading -----------------------------------------------------------------------------


def dirty_hours(session: Session, project_id: str, start: datetime, end: datetime) -> set[datetime]:
    d = _dirty.c
    query = select(d.hour).where(d.project_id == project_id, d.hour >= start, d.hour < end)
    return {_utc(h) for h in session.scalars(query)}


def stored_traces(
    session: Session, project_id: str, start: datetime, end: datetime, environment: str | None
) -> Iterator[tuple[TraceKey, TraceGroup]]:
    th = trace_hours.c
    query = select(th.hour, th.environment, th.traces, th.error_traces, th.latencies).where(
        th.project_id == project_id, th.hour >= start, th.hour < end
    )
    if environment is not None:
        query = query.where(th.environment == environment)
    for hour, env, traces, errors, latencies in session.execute(query):
        histogram: Counter[int] = Counter()
        add_encoded(histogram, latencies)
        yield (_utc(hour), env), TraceGroup(traces, errors, histogram)


def stored_environments(
    session: Session, project_id: str, start: datetime, end: datetime
) -> list[str]:
    th = trace_hours.c
    query = (
        select(th.environment)
        .where(th.project_id == project_id, th.hour >= start, th.hour < end)
        .distinct()
    )
    return list(session.scalars(query))


def refresh_quietly(engine: Engine, hours: Sequence[tuple[str, datetime]]) -> None:
    """`refresh_hours` after a page was answered: a failure only leaves the hours dirty."""
    try:
        refresh_hours(engine, hours)
    except Exception:
        log.warning("could not refresh %d metric hours", len(hours), exc_info=True)
