"""Metrics: a project's traffic, latency, tokens, cost, errors and scores over a time range,
with breakdowns by model, observation name, user and prompt version."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Protocol
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.responses import Response

from server.deps import SessionDep
from server.metrics import rollups
from server.pricing import usage_types
from web import metrics
from web.charts import Series, TimeChart, align, bucket_size, bucket_starts
from web.metrics import Bounds, Percentiles, ScoreSum, Totals
from web.queries import metrics as queries
from web.queries.metrics import Window
from web.security import Access, ProjectAccess
from web.templating import render
from web.timerange import PRESET_LABELS, PRESETS, TimeRange, parse_range

router = APIRouter(prefix="/project/{project_id}")

TOP_MODELS = 5  # cost chart: one series per model, for the most expensive ones
TOP_SCORES = 5  # score chart: one series per score name, for the most used ones
LINK_TIME = "%Y-%m-%dT%H:%M:%S"  # from/to in links: UTC, as the traces list reads them
FORM_TIME = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">


@dataclass
class RangeOption:
    key: str
    label: str
    href: str
    current: bool


@dataclass
class ScoreAverage:
    name: str
    average: float | None
    count: int
    change: float | None = None  # prompt table: since the previous version of the prompt


@dataclass
class Headline:
    traces: int
    error_traces: int
    error_rate: float | None
    observations: int
    generations: int
    latency: Percentiles
    input_tokens: int
    output_tokens: int
    cost: float | None  # sum of the known costs; None when no generation had one
    unpriced: int  # model calls with no cost: not counted in `cost`, never as $0
    scores: list[ScoreAverage]


@dataclass
class ModelRow:
    model: str | None
    generations: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    unpriced: int
    duration: Percentiles
    errors: int
    link: str | None


@dataclass
class NameRow:
    name: str | None
    count: int
    duration: Percentiles
    errors: int
    cost: float | None
    link: str | None


@dataclass
class UserRow:
    user_id: str
    traces: int
    error_rate: float | None
    tokens: int
    cost: float | None
    link: str


@dataclass
class PromptRow:
    prompt_name: str
    prompt_version: int | None
    generations: int
    duration: Percentiles
    input_tokens: int
    output_tokens: int
    cost: float | None
    unpriced: int
    error_rate: float | None
    scores: list[ScoreAverage]  # one per MetricsPage.prompt_score_names, in that order
    first_of_prompt: bool  # starts a new prompt name in the table
    error_rate_change: float | None = None  # since the previous version of the prompt


@dataclass
class MetricsPage:
    """Everything the metrics template shows; all figures are computed here, not in Jinja."""

    access: ProjectAccess
    range: TimeRange
    window: Bounds
    bucket_seconds: int
    ranges: list[RangeOption]
    environment: str | None
    environments: list[str]
    form_from: str
    form_to: str
    base_url: str
    has_data: bool
    cards: Headline | None = None
    charts: list[TimeChart] = field(default_factory=list)
    models: list[ModelRow] = field(default_factory=list)
    names: list[NameRow] = field(default_factory=list)
    users: list[UserRow] = field(default_factory=list)
    prompts: list[PromptRow] = field(default_factory=list)
    prompt_score_names: list[str] = field(default_factory=list)
    # Read from the hourly rollups: hourly buckets, percentiles from histograms (within 5 %).
    approximate: bool = False
    stale_hours: list[datetime] = field(default_factory=list)
    section: str = "metrics"


@router.get("/metrics")
def metrics_page(
    request: Request,
    access: Access,
    session: SessionDep,
    range_key: Annotated[str | None, Query(alias="range")] = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    env: str | None = None,
) -> Response:
    now = datetime.now(UTC)  # one clock for the range and its bounds: 30 days stay 120 points
    chosen = parse_range(range_key, start, end, default="24h", now=now)
    page = build_page(
        session, access, chosen, env or None, base_url=str(request.base_url).rstrip("/"), now=now
    )
    response = render(request, "metrics.html", page, fragment="metrics")
    if page.stale_hours:
        # Closed hours this view had to read raw: rebuild their rollups for the next view,
        # after the answer is sent (the page never writes in its own transaction).
        stale = [(access.project.id, hour) for hour in page.stale_hours]
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        response.background = BackgroundTask(rollups.refresh_quietly, engine, stale)
    return response


def build_page(
    session: Session,
    access: ProjectAccess,
    chosen: TimeRange,
    env: str | None,
    *,
    base_url: str,
    now: datetime,
) -> MetricsPage:
    pid = access.project.id
    window = metrics.bounds(chosen, now)
    approximate = queries.uses_rollups(window.span)
    bucket = bucket_size(window.span)
    if approximate:
        bucket = max(bucket, queries.HOUR_SECONDS)
    page = MetricsPage(
        access=access,
        range=chosen,
        window=window,
        bucket_seconds=bucket,
        ranges=_range_options(pid, chosen, env),
        environment=env,
        environments=[],
        form_from=window.start.strftime(FORM_TIME),
        form_to=window.end.strftime(FORM_TIME),
        base_url=base_url,
        has_data=queries.has_traces(session, pid),
        approximate=approximate,
    )
    if not page.has_data:
        return page
    w = Window(pid, window.start, window.end, env)
    queries.prepare(session)
    links = Links(pid, chosen, window, env)
    if approximate:
        read = queries.Rollups.read(session, w, bucket, now)
        page.stale_hours = read.stale_hours
        source: Source = RolledUpSource(read, session)
    else:
        source = PlainSource(session, w, bucket)
    page.environments = source.environments()
    if env is not None and env not in page.environments:
        page.environments.append(env)
    _add_cards_and_charts(session, page, w, links, source)
    _add_breakdowns(session, page, w, links, source)
    return page


class Source(Protocol):
    """Where the figures summed over observations and traces come from."""

    def environments(self) -> list[str]: ...
    def trace_buckets(self) -> list[queries.TraceBucket]: ...
    def trace_latency(self) -> Percentiles: ...
    def observations_by_bucket_and_model(self) -> ByBucketModel: ...
    def cost_by_usage_type(self) -> dict[tuple[int, str], float]: ...
    def model_durations(self) -> dict[str | None, Percentiles]: ...
    def observation_names(self) -> list[queries.NameTotals]: ...
    def prompt_versions(self) -> list[queries.PromptVersionTotals]: ...
    def prompt_version_scores(self) -> dict[tuple[str, int | None], list[ScoreSum]]: ...
    def top_users(self) -> list[queries.UserTotals]: ...


@dataclass
class PlainSource:
    """The raw rows: exact percentiles, buckets as fine as the range needs."""

    session: Session
    w: Window
    bucket: int

    def environments(self) -> list[str]:
        return queries.environments(self.session, self.w)

    def trace_buckets(self) -> list[queries.TraceBucket]:
        return queries.trace_buckets(self.session, self.w, self.bucket)

    def trace_latency(self) -> Percentiles:
        return queries.trace_latency(self.session, self.w)

    def observations_by_bucket_and_model(self) -> ByBucketModel:
        return queries.observations_by_bucket_and_model(self.session, self.w, self.bucket)

    def cost_by_usage_type(self) -> dict[tuple[int, str], float]:
        return queries.cost_by_usage_type(self.session, self.w, self.bucket)

    def model_durations(self) -> dict[str | None, Percentiles]:
        return queries.model_durations(self.session, self.w)

    def observation_names(self) -> list[queries.NameTotals]:
        return queries.observation_names(self.session, self.w)

    def prompt_versions(self) -> list[queries.PromptVersionTotals]:
        return queries.prompt_versions(self.session, self.w)

    def prompt_version_scores(self) -> dict[tuple[str, int | None], list[ScoreSum]]:
        return queries.prompt_version_scores(self.session, self.w)

    def top_users(self) -> list[queries.UserTotals]:
        return queries.top_users(self.session, self.w)


@dataclass
class RolledUpSource:
    """The hourly rollups (see `web.queries.metrics.Rollups`)."""

    rollups: queries.Rollups
    session: Session

    def environments(self) -> list[str]:
        return self.rollups.environments

    def trace_buckets(self) -> list[queries.TraceBucket]:
        return self.rollups.trace_buckets()

    def trace_latency(self) -> Percentiles:
        return self.rollups.trace_latency()

    def observations_by_bucket_and_model(self) -> ByBucketModel:
        return self.rollups.observations_by_bucket_and_model()

    def cost_by_usage_type(self) -> dict[tuple[int, str], float]:
        return self.rollups.cost_by_usage_type()

    def model_durations(self) -> dict[str | None, Percentiles]:
        return self.rollups.model_durations()

    def observation_names(self) -> list[queries.NameTotals]:
        return self.rollups.observation_names()

    def prompt_versions(self) -> list[queries.PromptVersionTotals]:
        return self.rollups.prompt_versions()

    def prompt_version_scores(self) -> dict[tuple[str, int | None], list[ScoreSum]]:
        return self.rollups.prompt_version_scores(self.session)

    def top_users(self) -> list[queries.UserTotals]:
        return self.rollups.top_users(self.session)


def _add_cards_and_charts(
    session: Session, page: MetricsPage, w: Window, links: Links, source: Source
) -> None:
    bucket = page.bucket_seconds
    starts = bucket_starts(w.start, w.end, bucket)
    traces = source.trace_buckets()
    observations = source.observations_by_bucket_and_model()
    per_bucket = metrics.per_bucket(observations)
    scores = queries.score_buckets(session, w, bucket)
    page.cards = _headline(traces, source.trace_latency(), observations, scores)
    page.charts = [
        _traces_chart(starts, bucket, traces, links),
        _latency_chart(starts, bucket, {t.bucket: t.latency for t in traces}, links),
        _tokens_chart(starts, bucket, per_bucket, links),
        _cost_chart(starts, bucket, per_bucket, observations, links),
        _cost_type_chart(starts, bucket, source.cost_by_usage_type(), per_bucket, links),
        _error_chart(starts, bucket, traces, links),
        _score_chart(starts, bucket, scores, links),
    ]
    page.models = _model_rows(observations, source.model_durations(), links)


def _add_breakdowns(
    session: Session, page: MetricsPage, w: Window, links: Links, source: Source
) -> None:
    page.names = [
        # No link: the traces list filters on trace names, and this is an observation's name.
        NameRow(n.name, n.count, n.duration, n.errors, n.cost, None)
        for n in source.observation_names()
    ]
    page.users = [
        UserRow(
            u.user_id,
            u.traces,
            metrics.ratio(u.error_traces, u.traces),
            u.tokens,
            u.cost,
            links.traces(user=u.user_id) or "",
        )
        for u in source.top_users()
    ]
    page.prompt_score_names, page.prompts = _prompt_rows(
        source.prompt_versions(), source.prompt_version_scores()
    )


# --- links -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Links:
    project_id: str
    chosen: TimeRange
    window: Bounds
    env: str | None

    def range_params(self) -> list[tuple[str, str]]:
        if self.chosen.key in PRESETS:
            return [("range", self.chosen.key)]
        return [
            ("range", "custom"),
            ("from", self.window.start.strftime(LINK_TIME)),
            ("to", self.window.end.strftime(LINK_TIME)),
        ]

    def env_params(self) -> list[tuple[str, str]]:
        return [] if self.env is None else [("env", self.env)]

    def traces(self, **filters: str | None) -> str | None:
        """The traces list over this page's range; None if a filter value is unknown."""
        if any(value is None for value in filters.values()):
            return None
        params = [*self.range_params(), *[(k, v) for k, v in filters.items() if v is not None]]
        return f"/project/{self.project_id}/traces?{urlencode(params + self.env_params())}"

    def bucket(self, **extra: str) -> str:
        """The traces of one chart bucket: charts.js fills in {from} and {to}."""
        params = urlencode([*extra.items(), *self.env_params()])
        tail = f"&{params}" if params else ""
        return f"/project/{self.project_id}/traces?range=custom&from={{from}}&to={{to}}{tail}"


def _range_options(pid: str, chosen: TimeRange, env: str | None) -> list[RangeOption]:
    env_part = [] if env is None else [("env", env)]
    return [
        RangeOption(
            key,
            PRESET_LABELS[key],
            f"/project/{pid}/metrics?{urlencode([('range', key), *env_part])}",
            chosen.key == key,
        )
        for key in PRESETS
    ]


# --- headline and charts -----------------------------------------------------------------

ByBucketModel = dict[tuple[int, str | None], Totals]


def _score_averages(scores: Iterable[ScoreSum]) -> list[ScoreAverage]:
    return [ScoreAverage(n, m, c) for n, (m, c) in metrics.score_means(scores).items()]


def _headline(
    traces: list[queries.TraceBucket],
    latency: Percentiles,
    observations: ByBucketModel,
    scores: dict[tuple[int, str], ScoreSum],
) -> Headline:
    total_traces = sum(t.traces for t in traces)
    error_traces = sum(t.error_traces for t in traces)
    sums = metrics.add_up(observations.values())
    return Headline(
        traces=total_traces,
        error_traces=error_traces,
        error_rate=metrics.ratio(error_traces, total_traces),
        observations=sums.observations,
        generations=sums.generations,
        latency=latency,
        input_tokens=sums.input_tokens,
        output_tokens=sums.output_tokens,
        cost=sums.cost,
        unpriced=sums.unpriced,
        scores=_score_averages(scores.values()),
    )


def _traces_chart(
    starts: list[int], bucket: int, traces: list[queries.TraceBucket], links: Links
) -> TimeChart:
    series = [
        Series("Traces", metrics.filled(starts, {t.bucket: t.traces for t in traces})),
        Series("With errors", metrics.filled(starts, {t.bucket: t.error_traces for t in traces})),
    ]
    return TimeChart("traces", "Traces", "count", bucket, starts, series, links.bucket())


def _latency_chart(
    starts: list[int], bucket: int, by_bucket: dict[int, Percentiles], links: Links
) -> TimeChart:
    series = [
        Series(label, align(starts, {b: getattr(p, attr) for b, p in by_bucket.items()}))
        for label, attr in (("p50", "p50"), ("p95", "p95"), ("p99", "p99"))
    ]
    return TimeChart("latency", "Trace latency", "ms", bucket, starts, series, links.bucket())


def _tokens_chart(
    starts: list[int], bucket: int, per_bucket: dict[int, Totals], links: Links
) -> TimeChart:
    inputs = {b: t.input_tokens for b, t in per_bucket.items()}
    outputs = {b: t.output_tokens for b, t in per_bucket.items()}
    series = [
        Series("Input", metrics.filled(starts, inputs)),
        Series("Output", metrics.filled(starts, outputs)),
    ]
    return TimeChart("tokens", "Tokens", "tokens", bucket, starts, series, links.bucket())


def _cost_chart(
    starts: list[int],
    bucket: int,
    per_bucket: dict[int, Totals],
    observations: ByBucketModel,
    links: Links,
) -> TimeChart:
    """Known costs per bucket (a bucket with only unpriced generations is a gap, not $0), and
    one series per most expensive model when there is more than one."""
    series = [Series("Total", align(starts, {b: t.cost for b, t in per_bucket.items()}))]
    by_model: dict[str, float | None] = {}
    for (_, model), totals in observations.items():
        if model is not None and totals.cost is not None:
            by_model[model] = metrics.plus(by_model.get(model), totals.cost)
    if len(by_model) > 1:
        for model in metrics.top(by_model, TOP_MODELS):
            found = {b: t.cost for (b, m), t in observations.items() if m == model}
            series.append(Series(model, align(starts, found)))
    title = "Cost (priced generations)"
    return TimeChart("cost", title, "usd", bucket, starts, series, links.bucket())


def _cost_type_chart(
    starts: list[int],
    bucket: int,
    parts: dict[tuple[int, str], float],
    per_bucket: dict[int, Totals],
    links: Links,
) -> TimeChart:
    """Known costs per usage type (input, output, cached input, cache write, reasoning…); what
    a bucket's total holds beyond its parts (costs sent as a bare total) is "not split"."""
    by_type: dict[str, dict[int, float | None]] = defaultdict(dict)
    by_bucket: dict[int, dict[str, float]] = defaultdict(dict)
    for (b, kind), cost in parts.items():
        by_bucket[b][kind] = cost
    for b, totals in per_bucket.items():
        usage_types.add_unsplit(by_bucket[b], totals.cost)
    for b, found in by_bucket.items():
        for kind, cost in found.items():
            by_type[kind][b] = cost
    series = [
        Series(kind.capitalize(), align(starts, by_type[kind]))
        for kind in usage_types.ordered(by_type)
    ]
    title = "Cost by usage type"
    return TimeChart("cost-types", title, "usd", bucket, starts, series, links.bucket())


def _error_chart(
    starts: list[int], bucket: int, traces: list[queries.TraceBucket], links: Links
) -> TimeChart:
    rates = metrics.ratios(
        {t.bucket: t.error_traces for t in traces}, {t.bucket: t.traces for t in traces}
    )
    series = [Series("Error rate", align(starts, rates))]
    return TimeChart(
        "errors",
        "Error rate (traces)",
        "ratio",
        bucket,
        starts,
        series,
        links.bucket(level="error"),
    )


def _score_chart(
    starts: list[int], bucket: int, scores: dict[tuple[int, str], ScoreSum], links: Links
) -> TimeChart:
    counts: dict[str, float | None] = defaultdict(int)
    for (_, name), score in scores.items():
        counts[name] = (counts[name] or 0) + score.count
    series = []
    for name in sorted(metrics.top(counts, TOP_SCORES)):
        found = {b: metrics.mean(s.total, s.count) for (b, n), s in scores.items() if n == name}
        series.append(Series(name, align(starts, found)))
    return TimeChart("scores", "Score averages", "score", bucket, starts, series, links.bucket())


# --- breakdown tables --------------------------------------------------------------------


def _model_rows(
    observations: ByBucketModel, durations: dict[str | None, Percentiles], links: Links
) -> list[ModelRow]:
    rows = [
        ModelRow(
            model,
            sums.generations,
            sums.input_tokens,
            sums.output_tokens,
            sums.cost,
            sums.unpriced,
            durations.get(model, Percentiles()),
            sums.errors,
            links.traces(model=model),
        )
        for model, sums in metrics.per_key(observations).items()
        if sums.generations  # spans and events carry no model
    ]
    rows.sort(key=lambda r: (r.cost is None, -(r.cost or 0.0), -r.generations, r.model or ""))
    return rows


def _prompt_rows(
    versions: list[queries.PromptVersionTotals],
    scores: dict[tuple[str, int | None], list[ScoreSum]],
) -> tuple[list[str], list[PromptRow]]:
    names = sorted({s.name for found in scores.values() for s in found})
    ordered = sorted(versions, key=lambda v: (v.prompt_name, -(v.prompt_version or 0)))
    rows = []
    for index, v in enumerate(ordered):
        found = {s.name: s for s in scores.get((v.prompt_name, v.prompt_version), [])}
        cells = [
            ScoreAverage(name, metrics.mean(s.total, s.count), s.count)
            if (s := found.get(name))
            else ScoreAverage(name, None, 0)
            for name in names
        ]
        t = v.totals
        rows.append(
            PromptRow(
                v.prompt_name,
                v.prompt_version,
                t.observations,
                v.duration,
                t.input_tokens,
                t.output_tokens,
                t.cost,
                t.unpriced,
                metrics.ratio(v.all_errors, t.observations),
                cells,
                index == 0 or ordered[index - 1].prompt_name != v.prompt_name,
            )
        )
    _compare_with_previous_versions(rows)
    return names, rows


def _compare_with_previous_versions(rows: list[PromptRow]) -> None:
    """Rows are newest first within a prompt, so a version's predecessor is the next row."""
    for row, older in zip(rows, rows[1:], strict=False):
        if older.first_of_prompt:
            continue
        row.error_rate_change = metrics.delta(row.error_rate, older.error_rate)
        for cell, previous in zip(row.scores, older.scores, strict=True):
            cell.change = metrics.delta(cell.average, previous.average)
