"""SQL for the metrics page. Every query is bounded by project and time range, so it starts
from one of the (project_id, time) indexes: traces.timestamp, observations.start_time,
scores.timestamp; trace totals come from trace_rollups by primary key.

Queries return raw sums and counts; rates, means and series are made in `web.metrics`.
Percentiles are the one place where the dialects differ (see `_percentiles`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, assert_never

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from server.db.dialect import Dialect, json_object_entries
from server.db.models import Observation, Score, Trace, TraceRollup, metric_hours
from server.metrics import rollups
from server.pricing import usage_types
from web.metrics import PERCENTILES, Percentiles, ScoreSum, Totals, from_ranks
from web.metrics import plus as metric_plus

AnySelect = Select[*tuple[Any, ...]]
Measured = ColumnElement[Any] | InstrumentedAttribute[Any]  # what percentiles are taken of
# Observations that are calls to a model: they carry the model, usage and cost.
MODEL_CALLS = ("GENERATION", "EMBEDDING")
# Scores whose numeric value means something when averaged (categorical ones are stored as 0).
AVERAGED_SCORES = ("NUMERIC", "BOOLEAN")
# Scores come after the trace they judge; bounding them by time (with a day for traces that
# began before the window) lets the join read the scores of the window, not of the project.
SCORE_SLACK = timedelta(days=1)
NAMES_SHOWN = 50
USERS_SHOWN = 20


@dataclass(frozen=True)
class Window:
    project_id: str
    start: datetime  # inclusive
    end: datetime  # exclusive
    environment: str | None = None


def _bucket(dialect: Dialect, moment: Any, seconds: int) -> ColumnElement[int]:
    """Start (Unix seconds) of the bucket a timestamp falls in, as `web.charts.bucket_of`."""
    # Inlined, not bound: Postgres must see the same expression in SELECT and GROUP BY.
    size = literal_column(str(int(seconds)), Integer)
    if dialect is Dialect.SQLITE:
        # Timestamps are stored as naive UTC text, which strftime reads as UTC.
        return cast(func.strftime(literal_column("'%s'"), moment), Integer) // size * size
    if dialect is Dialect.POSTGRESQL:
        # date_part gives a double; extract() gives a numeric, 30 % slower over 1M rows.
        epoch = func.date_part(literal_column("'epoch'"), moment)
        return cast(func.floor(epoch.op("/")(size)), BigInteger) * size
    assert_never(dialect)


def _in_window(w: Window, project: Any, moment: Any, environment: Any) -> list[ColumnElement[bool]]:
    conditions = [project == w.project_id, moment >= w.start, moment < w.end]
    if w.environment is not None:
        conditions.append(environment == w.environment)
    return conditions


def _traces(w: Window) -> list[ColumnElement[bool]]:
    return _in_window(w, Trace.project_id, Trace.timestamp, Trace.environment)


def _observations(w: Window) -> list[ColumnElement[bool]]:
    return _in_window(w, Observation.project_id, Observation.start_time, Observation.environment)


_ROLLUP_OF_TRACE = and_(
    TraceRollup.project_id == Trace.project_id, TraceRollup.trace_id == Trace.id
)


def _not_for_index(dialect: Dialect, column: Any) -> ColumnElement[Any]:
    """A column SQLite will filter on but not pick an index for (a unary `+`).

    With no statistics (Spyglass never runs ANALYZE on SQLite), SQLite chose the scores time
    index over the trace index for the prompt-score join and scanned two days of scores per
    trace: 27 s for a day of a 1M-observation project, 90 ms with the trace index. Postgres
    uses the same condition to hash-join only the scores of the window.
    """
    if dialect is Dialect.SQLITE:
        return UnaryExpression(column.expression, operator=custom_op("+"), type_=column.type)
    if dialect is Dialect.POSTGRESQL:
        return column  # type: ignore[no-any-return]
    assert_never(dialect)


def _sum(expression: Any) -> ColumnElement[Any]:
    return func.coalesce(func.sum(expression), 0)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return _sum(case((condition, 1), else_=0))


# --- percentiles -------------------------------------------------------------------------


def _percentiles(
    session: Session, source: AnySelect, ps: Sequence[float] = PERCENTILES
) -> dict[tuple[Any, ...], Percentiles]:
    """Percentiles of column `v` of `source` per value of its other columns (the key).

    Postgres: percentile_cont in SQL. SQLite has no percentile function: a window function
    ranks the values per key inside the database and only the rows at the ranks the
    percentiles need come back (two per percentile), to be interpolated by `from_ranks`.
    """
    src = source.where(source.selected_columns.v.is_not(None)).subquery()
    keys = [column for column in src.c if column.name != "v"]
    dialect = Dialect.of(session)
    if dialect is Dialect.POSTGRESQL:
        cont = [func.percentile_cont(p).within_group(src.c.v) for p in ps]
        query = select(*keys, *cont).group_by(*keys)
        return {
            tuple(row[: len(keys)]): Percentiles.of(list(row[len(keys) :]))
            for row in session.execute(query)
        }
    if dialect is Dialect.SQLITE:
        return _sqlite_percentiles(session, src, keys, ps)
    assert_never(dialect)


def _with_percentiles(
    session: Session, query: AnySelect, keys: int, value: Measured
) -> list[tuple[Sequence[Any], Percentiles]]:
    """The rows of a grouped `query` (its first `keys` columns are the group), each with the
    percentiles of `value` in its group.

    Postgres computes them in the same pass as the sums; SQLite in a second query over the
    same rows (see `_percentiles`).
    """
    dialect = Dialect.of(session)
    if dialect is Dialect.POSTGRESQL:
        cont = [func.percentile_cont(p).within_group(value) for p in PERCENTILES]
        n = len(cont)
        return [
            (row[:-n], Percentiles.of(list(row[-n:])))
            for row in session.execute(query.add_columns(*cont))
        ]
    if dialect is Dialect.SQLITE:
        group = list(query.selected_columns)[:keys]
        source = (
            query.with_only_columns(*group, value.label("v"), maintain_column_froms=True)
            .group_by(None)
            .order_by(None)
            .limit(None)
        )
        found = _percentiles(session, source)
        return [
            (row, found.get(tuple(row[:keys]), Percentiles())) for row in session.execute(query)
        ]
    assert_never(dialect)


def _sqlite_percentiles(
    session: Session, src: Any, keys: list[Any], ps: Sequence[float]
) -> dict[tuple[Any, ...], Percentiles]:
    ranked = select(
        *keys,
        src.c.v,
        (func.row_number().over(partition_by=keys, order_by=src.c.v) - 1).label("i"),
        func.count().over(partition_by=keys).label("n"),
    ).subquery()
    wanted = []
    for p in ps:
        # Same double arithmetic as `web.metrics.rank`: floor(p * (n - 1)) and the rank above.
        lo = cast(literal_column(repr(float(p))) * (ranked.c.n - 1), Integer)
        wanted += [ranked.c.i == lo, ranked.c.i == lo + 1]
    rank_keys = [ranked.c[column.name] for column in keys]
    query = select(*rank_keys, ranked.c.n, ranked.c.i, ranked.c.v).where(or_(*wanted))
    values: dict[tuple[Any, ...], dict[int, float]] = defaultdict(dict)
    counts: dict[tuple[Any, ...], int] = {}
    for row in session.execute(query):
        key = tuple(row[: len(keys)])
        n, i, v = row[len(keys) :]
        counts[key] = int(n)
        values[key][int(i)] = float(v)
    return {
        key: Percentiles.of([from_ranks(values[key], n, p) for p in ps])
        for key, n in counts.items()
    }


def prepare(session: Session) -> None:
    """Postgres: give this request's sorts room. The default 4 MB work_mem sends the sort of
    a day of observations (50k rows) to disk, which measured 35 % slower; SET LOCAL ends with
    the request's transaction. SQLite sorts in its page cache and needs nothing."""
    dialect = Dialect.of(session)
    if dialect is Dialect.POSTGRESQL:
        session.execute(text("SET LOCAL work_mem = '32MB'"))
    elif dialect is not Dialect.SQLITE:
        assert_never(dialect)


# --- traces ------------------------------------------------------------------------------


def has_traces(session: Session, project_id: str) -> bool:
    query = select(Trace.id).where(Trace.project_id == project_id).limit(1)
    return session.execute(query).first() is not None


def environments(session: Session, w: Window) -> list[str]:
    everywhere = Window(w.project_id, w.start, w.end)
    query = select(Trace.environment).where(*_traces(everywhere)).distinct()
    return sorted(session.scalars(query))


@dataclass(frozen=True)
class TraceBucket:
    bucket: int
    traces: int
    error_traces: int
    latency: Percentiles  # of the traces that have observations (and so a latency)


def trace_buckets(session: Session, w: Window, bucket: int) -> list[TraceBucket]:
    at = _bucket(Dialect.of(session), Trace.timestamp, bucket).label("bucket")
    query = (
        select(at, func.count(), _count_if(TraceRollup.error_count > 0))
        .select_from(Trace)
        .outerjoin(TraceRollup, _ROLLUP_OF_TRACE)
        .where(*_traces(w))
        .group_by(at)
    )
    return [
        TraceBucket(int(b), int(n), int(e), latency)
        for (b, n, e), latency in _with_percentiles(session, query, 1, TraceRollup.latency_ms)
    ]


def trace_latency(session: Session, w: Window) -> Percentiles:
    """Trace latency percentiles over the whole window."""
    source = (
        select(TraceRollup.latency_ms.label("v"))
        .select_from(Trace)
        .join(TraceRollup, _ROLLUP_OF_TRACE)
        .where(*_traces(w))
    )
    return _percentiles(session, source).get((), Percentiles())


@dataclass(frozen=True)
class UserTotals:
    user_id: str
    traces: int
    error_traces: int
    tokens: int
    cost: float | None


def top_users(session: Session, w: Window) -> list[UserTotals]:
    cost = func.sum(TraceRollup.total_cost)
    traces = func.count()
    query = (
        select(
            Trace.user_id,
            traces,
            _count_if(TraceRollup.error_count > 0),
            _sum(TraceRollup.total_tokens),
            cost,
        )
        .select_from(Trace)
        .outerjoin(TraceRollup, _ROLLUP_OF_TRACE)
        .where(*_traces(w), Trace.user_id.is_not(None))
        .group_by(Trace.user_id)
        .order_by(cost.desc().nulls_last(), traces.desc(), Trace.user_id)
        .limit(USERS_SHOWN)
    )
    return [
        UserTotals(str(u), int(n), int(e), int(t), None if c is None else float(c))
        for u, n, e, t, c in session.execute(query)
    ]


# --- observations ------------------------------------------------------------------------


def _totals_columns() -> list[ColumnElement[Any]]:
    o = Observation
    call = o.type.in_(MODEL_CALLS)
    return [
        func.count(),
        _count_if(call),
        _count_if(and_(call, o.total_cost.is_(None))),
        _count_if(and_(call, o.level == "ERROR")),
        _sum(o.input_tokens),
        _sum(o.output_tokens),
        func.sum(o.total_cost),
    ]


def _totals(row: Sequence[Any]) -> Totals:
    observations, generations, unpriced, errors, input_tokens, output_tokens, cost = row
    return Totals(
        int(observations),
        int(generations),
        int(unpriced),
        int(errors),
        int(input_tokens),
        int(output_tokens),
        None if cost is None else float(cost),
    )


def observations_by_bucket_and_model(
    session: Session, w: Window, bucket: int
) -> dict[tuple[int, str | None], Totals]:
    """Totals per (bucket, model): summed one way for the charts, the other for the models."""
    at = _bucket(Dialect.of(session), Observation.start_time, bucket).label("bucket")
    query = (
        select(at, Observation.model, *_totals_columns())
        .where(*_observations(w))
        .group_by(at, Observation.model)
    )
    return {(int(row[0]), row[1]): _totals(row[2:]) for row in session.execute(query)}


def cost_by_usage_type(session: Session, w: Window, bucket: int) -> dict[tuple[int, str], float]:
    """Cost per (bucket, usage type): the keys of each observation's cost details, summed in
    SQL and grouped into types here (see `server.pricing.usage_types`). What a bucket's total
    holds beyond these parts (costs sent as a bare total) is added by the page from the
    totals it already has."""
    dialect = Dialect.of(session)
    at = _bucket(dialect, Observation.start_time, bucket).label("bucket")
    entries, is_object = json_object_entries(dialect, Observation.cost_details)
    parts = (
        select(at, entries.c.key, func.sum(cast(entries.c.value, Float)))
        .select_from(Observation)
        .join(entries, true())
        .where(*_observations(w), Observation.cost_details.is_not(None), is_object)
        .group_by(at, entries.c.key)
    )
    found: dict[tuple[int, str], float] = {}
    for b, key, amount in session.execute(parts):
        kind = usage_types.usage_type(str(key))
        if kind is not None and amount is not None:
            found[(int(b), kind)] = found.get((int(b), kind), 0.0) + float(amount)
    return found


def model_durations(session: Session, w: Window) -> dict[str | None, Percentiles]:
    source = select(Observation.model, Observation.duration_ms.label("v")).where(
        *_observations(w), Observation.type.in_(MODEL_CALLS)
    )
    return {key[0]: value for key, value in _percentiles(session, source).items()}


@dataclass(frozen=True)
class NameTotals:
    name: str | None
    count: int
    errors: int
    cost: float | None
    duration: Percentiles


def observation_names(session: Session, w: Window) -> list[NameTotals]:
    o = Observation
    count = func.count()
    query = (
        select(o.name, count, _count_if(o.level == "ERROR"), func.sum(o.total_cost))
        .where(*_observations(w))
        .group_by(o.name)
        .order_by(count.desc(), o.name)
        .limit(NAMES_SHOWN)
    )
    return [
        NameTotals(name, int(n), int(e), None if c is None else float(c), duration)
        for (name, n, e, c), duration in _with_percentiles(session, query, 1, o.duration_ms)
    ]


@dataclass(frozen=True)
class PromptVersionTotals:
    prompt_name: str
    prompt_version: int | None
    totals: Totals
    all_errors: int  # observations at level ERROR, whatever their type
    duration: Percentiles


def prompt_versions(session: Session, w: Window) -> list[PromptVersionTotals]:
    o = Observation
    query = (
        select(o.prompt_name, o.prompt_version, *_totals_columns(), _count_if(o.level == "ERROR"))
        .where(*_observations(w), o.prompt_name.is_not(None))
        .group_by(o.prompt_name, o.prompt_version)
    )
    return [
        PromptVersionTotals(row[0], row[1], _totals(row[2:-1]), int(row[-1]), duration)
        for row, duration in _with_percentiles(session, query, 2, o.duration_ms)
    ]


def prompt_version_scores(
    session: Session, w: Window
) -> dict[tuple[str, int | None], list[ScoreSum]]:
    """Scores of the traces that used each prompt version (a trace counts once per version)."""
    o = Observation
    used = (
        select(o.prompt_name, o.prompt_version, o.trace_id)
        .where(*_observations(w), o.prompt_name.is_not(None))
        .distinct()
        .subquery()
    )
    s = Score
    query = (
        select(used.c.prompt_name, used.c.prompt_version, s.name, func.sum(s.value), func.count())
        .select_from(used)
        .join(s, and_(s.project_id == w.project_id, s.trace_id == used.c.trace_id))
        .where(
            s.data_type.in_(AVERAGED_SCORES),
            _not_for_index(Dialect.of(session), s.timestamp) >= w.start - SCORE_SLACK,
        )
        .group_by(used.c.prompt_name, used.c.prompt_version, s.name)
    )
    found: dict[tuple[str, int | None], list[ScoreSum]] = defaultdict(list)
    for prompt, version, name, value, count in session.execute(query):
        found[(prompt, version)].append(ScoreSum(name, float(value), int(count)))
    return dict(found)


# --- scores ------------------------------------------------------------------------------


def score_buckets(session: Session, w: Window, bucket: int) -> dict[tuple[int, str], ScoreSum]:
    """Sum and count of each score name per bucket (numeric and boolean scores)."""
    s = Score
    at = _bucket(Dialect.of(session), s.timestamp, bucket).label("bucket")
    query = (
        select(at, s.name, func.sum(s.value), func.count())
        .where(
            *_in_window(w, s.project_id, s.timestamp, s.environment),
            s.data_type.in_(AVERAGED_SCORES),
        )
        .group_by(at, s.name)
    )
    return {
        (int(b), name): ScoreSum(name, float(value), int(count))
        for b, name, value, count in session.execute(query)
    }


# --- hourly rollups ----------------------------------------------------------------------
# Ranges longer than ROLLUP_AFTER are read from `server.metrics.rollups`: stored hours for
# the closed hours the writer has not marked dirty since they were built, and the raw rows,
# aggregated by the same code, for the rest (the open hour, dirty hours, and the partial
# hours at either end of the range). Buckets are whole hours or more; percentiles come from
# histograms (within 5 %).

ROLLUP_AFTER = timedelta(hours=6)
HOUR_SECONDS = 3600

BucketKey = tuple[int, str, str | None, int | None]  # (bucket, dimension, key, version)


def uses_rollups(span: timedelta) -> bool:
    return span > ROLLUP_AFTER


def _bucket_of(moment: datetime, bucket: int) -> int:
    return int(moment.timestamp()) // bucket * bucket


def _ranges(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours as [start, end) ranges."""
    found: list[tuple[datetime, datetime]] = []
    for hour in sorted(hours):
        if found and found[-1][1] == hour:
            found[-1] = (found[-1][0], hour + rollups.HOUR)
        else:
            found.append((hour, hour + rollups.HOUR))
    return found


def _percentiles_of(histogram: Counter[int]) -> Percentiles:
    return Percentiles.of(rollups.histogram_percentiles(histogram, PERCENTILES))


def _totals_of(g: rollups.Group) -> Totals:
    return Totals(
        g.observations,
        g.model_calls,
        g.unpriced,
        g.model_call_errors,
        g.input_tokens,
        g.output_tokens,
        g.cost,
    )


@dataclass
class Rollups:
    """A window's observations and traces, from the hourly rollups: totals per bucket and
    dimension key, duration histograms per dimension key over the whole window."""

    window: Window
    bucket: int
    observations: dict[BucketKey, rollups.Group]  # totals only (no durations)
    durations: dict[tuple[str, str | None, int | None], Counter[int]]
    traces: dict[int, rollups.TraceGroup]
    environments: list[str]
    stale_hours: list[datetime]  # closed hours read raw because they were dirty
    raw_ranges: list[tuple[datetime, datetime]] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def read(cls, session: Session, w: Window, bucket: int, now: datetime) -> Rollups:
        first = rollups.next_hour(w.start)
        last = rollups.hour_of(min(w.end, now))  # the open hour (or the range's last) on
        raw: list[tuple[datetime, datetime]] = []
        dirty: set[datetime] = set()
        if last <= first:
            raw.append((w.start, w.end))
        else:
            dirty = rollups.dirty_hours(session, w.project_id, first, last)
            raw += [(w.start, first), (last, w.end), *_ranges(dirty)]
        found = cls(w, bucket, {}, defaultdict(Counter), {}, [], sorted(dirty))
        found.now = now
        found.raw_ranges = [(start, end) for start, end in raw if start < end]
        traces: dict[int, rollups.TraceGroup] = defaultdict(rollups.TraceGroup)
        environments: set[str] = set()
        for start, end in raw:
            if start >= end:
                continue
            for key, group in rollups.raw_observations(
                session, w.project_id, start, end, w.environment
            ).items():
                found._add(key, group)
            for (hour, _), trace_group in rollups.raw_traces(
                session, w.project_id, start, end, w.environment
            ).items():
                traces[_bucket_of(hour, bucket)].merge(trace_group)
            environments.update(environments_between(session, w.project_id, start, end))
        if first < last:
            found._read_stored(session, first, last, dirty)
            for (hour, _), trace_group in rollups.stored_traces(
                session, w.project_id, first, last, w.environment
            ):
                if hour not in dirty:
                    traces[_bucket_of(hour, bucket)].merge(trace_group)
            environments.update(rollups.stored_environments(session, w.project_id, first, last))
        found.traces = dict(traces)
        found.environments = sorted(environments)
        return found

    def _add(self, key: rollups.GroupKey, group: rollups.Group) -> None:
        hour, _, dimension, name, version = key
        if group.durations:
            self.durations[(dimension, name, version)].update(group.durations)
            group.durations = Counter()
        at = (_bucket_of(hour, self.bucket), dimension, name, version)
        found = self.observations.get(at)
        if found is None:
            self.observations[at] = group
        else:
            found.merge(group)

    def _read_stored(
        self, session: Session, first: datetime, last: datetime, dirty: set[datetime]
    ) -> None:
        """Totals summed per bucket and histograms concatenated per key, in SQL: a month is
        some 70k rows, too many to fetch and add up one by one."""
        m = metric_hours.c
        where = [m.project_id == self.window.project_id, m.hour >= first, m.hour < last]
        if self.window.environment is not None:
            where.append(m.environment == self.window.environment)
        if dirty:
            where.append(m.hour.not_in(sorted(dirty)))
        at = _bucket(Dialect.of(session), m.hour, self.bucket).label("bucket")
        totals = (
            select(
                at,
                m.dimension,
                m.key,
                m.version,
                *(
                    _sum(column)
                    for column in (
                        m.observations,
                        m.model_calls,
                        m.errors,
                        m.model_call_errors,
                        m.unpriced,
                        m.input_tokens,
                        m.output_tokens,
                    )
                ),
                func.sum(m.cost),
            )
            .where(*where)
            .group_by(at, m.dimension, m.key, m.version)
        )
        for row in session.execute(totals):
            n, calls, errors, call_errors, unpriced, tin, tout = (int(v) for v in row[4:11])
            cost = None if row[11] is None else float(row[11])
            group = rollups.Group(n, calls, errors, call_errors, unpriced, tin, tout, cost)
            key = (int(row[0]), row[1], row[2], row[3])
            found = self.observations.get(key)
            if found is None:
                self.observations[key] = group
            else:
                found.merge(group)
        histograms = (
            select(m.dimension, m.key, m.version, rollups.joined(session, m.durations))
            .where(*where, m.durations.is_not(None))
            .group_by(m.dimension, m.key, m.version)
        )
        for dimension, name, version, joined in session.execute(histograms):
            rollups.add_encoded(self.durations[(dimension, name, version)], joined)

    def prompt_version_scores(
        self, session: Session
    ) -> dict[tuple[str, int | None], list[ScoreSum]]:
        """Stored hours, plus the plain query over each range read raw: a trace whose
        observations of a version fall in two such pieces may count in both."""
        w = self.window
        sums: dict[tuple[str, int | None, str], tuple[float, int]] = {}

        def add(prompt: str, version: int | None, name: str, total: float, count: int) -> None:
            before = sums.get((prompt, version, name), (0.0, 0))
            sums[(prompt, version, name)] = (before[0] + total, before[1] + count)

        for start, end in self.raw_ranges:
            piece = Window(w.project_id, start, end, w.environment)
            for (prompt, version), found in prompt_version_scores(session, piece).items():
                for item in found:
                    add(prompt, version, item.name, item.total, item.count)
        first = rollups.next_hour(w.start)
        last = rollups.hour_of(min(w.end, self.now))
        if first < last:
            for row in rollups.stored_prompt_scores(
                session, w.project_id, first, last, w.environment, self.stale_hours
            ):
                add(*row)
        grouped: dict[tuple[str, int | None], list[ScoreSum]] = defaultdict(list)
        for (prompt, version, name), (total, count) in sorted(
            sums.items(), key=lambda item: (item[0][0], item[0][1] or 0, item[0][2])
        ):
            grouped[(prompt, version)].append(ScoreSum(name, total, count))
        return dict(grouped)

    def top_users(self, session: Session) -> list[UserTotals]:
        w = self.window
        found: dict[str, rollups.UserTotals] = {}

        def add(user: str, totals: rollups.UserTotals) -> None:
            before = found.get(user)
            if before is None:
                found[user] = totals
            else:
                cost = metric_plus(before[3], totals[3])
                found[user] = (
                    before[0] + totals[0],
                    before[1] + totals[1],
                    before[2] + totals[2],
                    cost,
                )

        for start, end in self.raw_ranges:
            raw = rollups.raw_users(session, w.project_id, start, end, w.environment)
            for (_, user), totals in raw.items():
                add(user, totals)
        first = rollups.next_hour(w.start)
        last = rollups.hour_of(min(w.end, self.now))
        if first < last:
            stored = rollups.stored_users(
                session, w.project_id, first, last, w.environment, self.stale_hours
            )
            for user, totals in stored.items():
                add(user, totals)
        ranked = sorted(
            found.items(),
            key=lambda item: (item[1][3] is None, -(item[1][3] or 0.0), -item[1][0], item[0]),
        )
        return [UserTotals(user, *totals) for user, totals in ranked[:USERS_SHOWN]]

    def _merged(self, dimension: str) -> dict[tuple[str | None, int | None], rollups.Group]:
        merged: dict[tuple[str | None, int | None], rollups.Group] = defaultdict(rollups.Group)
        for (_, dim, key, version), group in self.observations.items():
            if dim == dimension:
                merged[(key, version)].merge(group)
        return merged

    def _durations(self, dimension: str, key: str | None, version: int | None) -> Percentiles:
        return _percentiles_of(self.durations.get((dimension, key, version), Counter()))

    def trace_buckets(self) -> list[TraceBucket]:
        return [
            TraceBucket(b, g.traces, g.error_traces, _percentiles_of(g.latencies))
            for b, g in sorted(self.traces.items())
        ]

    def trace_latency(self) -> Percentiles:
        histogram: Counter[int] = Counter()
        for g in self.traces.values():
            histogram.update(g.latencies)
        return _percentiles_of(histogram)

    def observations_by_bucket_and_model(self) -> dict[tuple[int, str | None], Totals]:
        return {
            (b, key): _totals_of(g)
            for (b, dim, key, _), g in self.observations.items()
            if dim == "model"
        }

    def cost_by_usage_type(self) -> dict[tuple[int, str], float]:
        return {
            (b, str(key)): g.cost
            for (b, dim, key, _), g in self.observations.items()
            if dim == "usage" and g.cost is not None
        }

    def model_durations(self) -> dict[str | None, Percentiles]:
        return {
            key: _percentiles_of(histogram)
            for (dim, key, _), histogram in self.durations.items()
            if dim == "model" and histogram
        }

    def observation_names(self) -> list[NameTotals]:
        merged = sorted(
            self._merged("name").items(),
            key=lambda item: (-item[1].observations, item[0][0] is None, item[0][0] or ""),
        )
        return [
            NameTotals(key, g.observations, g.errors, g.cost, self._durations("name", key, None))
            for (key, _), g in merged[:NAMES_SHOWN]
        ]

    def prompt_versions(self) -> list[PromptVersionTotals]:
        return [
            PromptVersionTotals(
                str(key),
                version,
                _totals_of(g),
                g.errors,
                self._durations("prompt", key, version),
            )
            for (key, version), g in self._merged("prompt").items()
        ]


def environments_between(
    session: Session, project_id: str, start: datetime, end: datetime
) -> list[str]:
    return environments(session, Window(project_id, start, end))
