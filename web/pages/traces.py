"""The traces list: filters in the query string, keyset pages, live refresh of the newest page.

Every view is a link: the filters, the sort and the page cursor all live in the URL, and the
URL contract (parameter names below) is shared with other pages and the benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams
from starlette.responses import Response

from server.deps import SessionDep
from web import filters as fmt
from web.queries import trace_list
from web.queries.trace_list import (
    SORTS,
    ScoreAverage,
    SortKey,
    Suggestions,
    TraceListFilters,
    TraceListRow,
)
from web.security import Access, ProjectAccess
from web.templating import is_fragment_request, render
from web.timerange import PRESET_LABELS, TimeRange, parse_range

router = APIRouter()

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Search terms shorter than this cannot use the trigram index and scan instead.
SEARCH_INDEXED_CHARS = 3
MAX_TEXT = 1000
# The id of the filter form: HTMX names it in HX-Trigger, and only its requests change the URL.
FORM_ID = "trace-filters"
SORT_LABELS: dict[str, str] = {
    "time": "Newest first",
    "latency": "Slowest first",
    "cost": "Most expensive first",
}
# The text filters: query parameter and chip label.
TEXT_FILTERS = (
    ("name", "Name"),
    ("user", "User"),
    ("session", "Session"),
    ("env", "Environment"),
    ("model", "Model"),
)
NUMBER_FILTERS = (
    ("min_latency", "minimum latency"),
    ("max_latency", "maximum latency"),
    ("min_cost", "minimum cost"),
    ("max_cost", "maximum cost"),
)


@dataclass
class FilterForm:
    """The filters as read from the query string: what the form shows and the query uses."""

    time_range: TimeRange
    from_text: str = ""
    to_text: str = ""
    text: dict[str, str] = field(default_factory=dict)  # name, user, session, env, model
    tags: list[str] = field(default_factory=list)
    errors_only: bool = False
    numbers: dict[str, float] = field(default_factory=dict)  # min/max latency and cost
    q: str = ""
    sort: SortKey = "time"
    limit: int = PAGE_SIZE
    notes: list[str] = field(default_factory=list)

    @property
    def range_key(self) -> str:
        return self.time_range.key

    @property
    def has_filters(self) -> bool:
        return bool(self.filter_params())

    @property
    def number_inputs(self) -> dict[str, str]:
        return {key: number_text(value) for key, value in self.numbers.items()}

    @property
    def custom_limit(self) -> bool:
        return self.limit != PAGE_SIZE

    def query_filters(self) -> TraceListFilters:
        text, numbers = self.text, self.numbers
        return TraceListFilters(
            start=self.time_range.start,
            end=self.time_range.end,
            name=text.get("name"),
            user_id=text.get("user"),
            session_id=text.get("session"),
            tags=tuple(self.tags),
            environment=text.get("env"),
            errors_only=self.errors_only,
            model=text.get("model"),
            min_latency_ms=numbers.get("min_latency"),
            max_latency_ms=numbers.get("max_latency"),
            min_cost=numbers.get("min_cost"),
            max_cost=numbers.get("max_cost"),
            search=self.q or None,
        )

    def filter_params(self) -> list[tuple[str, str]]:
        """The active filters as query parameters, in a fixed order (sort and page excluded)."""
        params: list[tuple[str, str]] = []
        if self.time_range.key != "all":
            params.append(("range", self.time_range.key))
        if self.time_range.key == "custom":
            params += [(k, v) for k, v in (("from", self.from_text), ("to", self.to_text)) if v]
        params += [(key, self.text[key]) for key, _ in TEXT_FILTERS if key in self.text]
        params += [("tag", tag) for tag in self.tags]
        if self.errors_only:
            params.append(("level", "error"))
        params += [
            (k, number_text(self.numbers[k])) for k, _ in NUMBER_FILTERS if k in self.numbers
        ]
        if self.q:
            params.append(("q", self.q))
        return params

    def order_params(self, sort: str | None = None) -> list[tuple[str, str]]:
        """Sort and page size, when not the defaults."""
        sort = sort or self.sort
        params = [("sort", sort)] if sort != "time" else []
        if self.limit != PAGE_SIZE:
            params.append(("limit", str(self.limit)))
        return params

    def view_params(self) -> list[tuple[str, str]]:
        """Everything that names this view's first page: the filters, sort and page size."""
        return self.filter_params() + self.order_params()


@dataclass
class FilterChip:
    label: str
    remove_url: str


@dataclass
class ScoreBadge:
    name: str
    text: str
    title: str


@dataclass
class TraceRowView:
    """One table row, every value ready to display."""

    id: str
    url: str
    name: str | None
    timestamp: datetime
    user_id: str | None
    user_url: str | None
    session_id: str | None
    session_url: str | None
    environment: str
    tags: list[str]
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    total_cost: float | None
    error_count: int
    scores: list[ScoreBadge]

    @property
    def has_error(self) -> bool:
        return self.error_count > 0

    @property
    def has_tokens(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


@dataclass
class TracesPage:
    access: ProjectAccess
    form: FilterForm
    rows: list[TraceRowView]
    page_url: str  # the list without any filter
    view_url: str  # this view's first page (what live refresh re-fetches)
    next_url: str | None  # the next page, None on the last one
    shown: int  # rows shown so far, this page included
    first_page: bool
    live: bool  # the newest page sorted by time: refreshed every few seconds
    chips: list[FilterChip]
    notes: list[str]  # what was wrong with the query string, and what was done about it
    has_filters: bool
    short_search: bool  # a search term too short for the index: it scans
    sort_label: str
    sort_urls: dict[str, str]
    base_url: str
    keys_url: str
    suggestions: Suggestions = field(default_factory=Suggestions)
    range_options: list[tuple[str, str]] = field(
        default_factory=lambda: list(PRESET_LABELS.items())
    )
    sort_options: list[tuple[str, str]] = field(default_factory=lambda: list(SORT_LABELS.items()))
    section: str = "traces"


# --- reading the query string -------------------------------------------------------------


def number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _text(params: QueryParams, key: str) -> str:
    return params.get(key, "").strip()[:MAX_TEXT]


def _number(raw: str, label: str, notes: list[str]) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        notes.append(f"Ignored the {label} “{shown}”: it is not a number.")
        return None
    return value


def _limit(raw: str) -> int:
    try:
        return max(1, min(MAX_PAGE_SIZE, int(raw)))
    except ValueError:
        return PAGE_SIZE


def parse_filters(params: QueryParams, *, now: datetime | None = None) -> FilterForm:
    """The filters in a query string. Bad input is dropped with a note, never an error."""
    notes: list[str] = []
    key, from_text, to_text = _text(params, "range"), _text(params, "from"), _text(params, "to")
    time_range = parse_range(key or None, from_text, to_text, now=now or datetime.now(UTC))
    if key and time_range.key != key:
        if key == "custom":
            notes.append("Could not read the custom time range; showing all time.")
        else:
            notes.append(f"Unknown time range “{key[:20]}”; showing all time.")
    text = {k: v for k, _ in TEXT_FILTERS if (v := _text(params, k))}
    tags = list(dict.fromkeys(t.strip()[:MAX_TEXT] for t in params.getlist("tag") if t.strip()))
    numbers: dict[str, float] = {}
    for name, label in NUMBER_FILTERS:
        value = _number(_text(params, name), label, notes)
        if value is not None:
            numbers[name] = value
    sort_text = _text(params, "sort")
    sort: SortKey = "time"
    for option in SORTS:
        if sort_text == option:
            sort = option
    return FilterForm(
        time_range=time_range,
        from_text=from_text if time_range.key == "custom" else "",
        to_text=to_text if time_range.key == "custom" else "",
        text=text,
        tags=tags,
        errors_only=_text(params, "level") == "error",
        numbers=numbers,
        q=_text(params, "q")[:200],
        sort=sort,
        limit=_limit(_text(params, "limit")) if "limit" in params else PAGE_SIZE,
        notes=notes,
    )


# --- building the page --------------------------------------------------------------------


def url_with(base: str, params: list[tuple[str, str]]) -> str:
    return f"{base}?{urlencode(params)}" if params else base


def chips(form: FilterForm, base: str) -> list[FilterChip]:
    """One chip per active filter, each linking to the same view without it."""
    extra = form.order_params()  # removing a filter keeps the sort and page size
    result: list[FilterChip] = []

    def without(*keys: str, tag: str | None = None) -> str:
        kept = [
            (k, v)
            for k, v in form.filter_params()
            if k not in keys and not (tag is not None and k == "tag" and v == tag)
        ]
        return url_with(base, kept + extra)

    if form.time_range.key == "custom":
        start, end = (t.replace("T", " ") for t in (form.from_text, form.to_text))
        label = f"From {start or '…'} to {end or 'now'}"
        result.append(FilterChip(label, without("range", "from", "to")))
    elif form.time_range.key != "all":
        result.append(FilterChip(form.time_range.label, without("range")))
    for key, label in TEXT_FILTERS:
        if key in form.text:
            result.append(FilterChip(f"{label}: {form.text[key]}", without(key)))
    result += [FilterChip(f"Tag: {tag}", without(tag=tag)) for tag in form.tags]
    if form.errors_only:
        result.append(FilterChip("Errors only", without("level")))
    for key, value in form.numbers.items():
        shown = fmt.duration(value) if key.endswith("latency") else fmt.cost(value)
        sign = "≥" if key.startswith("min") else "≤"
        label = f"{'Latency' if key.endswith('latency') else 'Cost'} {sign} {shown}"
        result.append(FilterChip(label, without(key)))
    if form.q:
        result.append(FilterChip(f"Search: {form.q}", without("q")))
    return result


def format_score(score: ScoreAverage) -> ScoreBadge:
    """`name: value` for a badge: the average of numbers, a category's value as it is."""
    several = f" (average of {score.count})" if score.count > 1 else ""
    if score.data_type in ("CATEGORICAL", "TEXT"):
        text = score.label if score.label is not None else fmt.MISSING
        title = f"{score.name}: {text}" + (f" ({score.count} scores)" if score.count > 1 else "")
        return ScoreBadge(score.name, text, title)
    if score.data_type == "BOOLEAN" and score.count == 1:
        text = "true" if score.average >= 0.5 else "false"
        return ScoreBadge(score.name, text, f"{score.name}: {text}")
    value = score.average
    text = number_text(value) if value.is_integer() else f"{value:.2f}"
    return ScoreBadge(score.name, text, f"{score.name}: {value:g}{several}")


def row_view(
    row: TraceListRow, project_url: str, scores: list[ScoreAverage] | None
) -> TraceRowView:
    return TraceRowView(
        id=row.id,
        url=f"{project_url}/traces/{quote(row.id, safe='')}",
        name=row.name,
        timestamp=row.timestamp,
        user_id=row.user_id,
        user_url=f"{project_url}/users/{quote(row.user_id, safe='')}" if row.user_id else None,
        session_id=row.session_id,
        session_url=(
            f"{project_url}/sessions/{quote(row.session_id, safe='')}" if row.session_id else None
        ),
        environment=row.environment,
        tags=row.tags,
        latency_ms=row.latency_ms,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        total_tokens=row.total_tokens,
        total_cost=row.total_cost,
        error_count=row.error_count,
        scores=[format_score(s) for s in scores or []],
    )


def _shown_before(params: QueryParams) -> int:
    try:
        return max(0, int(params.get("shown", "0")))
    except ValueError:
        return 0


def build_page(request: Request, access: ProjectAccess, session: Session) -> TracesPage:
    params = request.query_params
    form = parse_filters(params)
    project_url = f"/project/{access.project.id}"
    page_url = f"{project_url}/traces"
    raw_cursor = params.get("cursor")
    cursor = trace_list.decode_cursor(raw_cursor, form.sort)
    if raw_cursor and cursor is None:
        form.notes.append("That page link is not valid (any more); showing the first page.")
    rows, next_cursor = trace_list.list_traces(
        session,
        access.project.id,
        form.query_filters(),
        sort=form.sort,
        cursor=cursor,
        limit=form.limit,
    )
    scores = trace_list.score_averages(session, access.project.id, [r.id for r in rows])
    shown = (_shown_before(params) if cursor else 0) + len(rows)
    next_url = None
    if next_cursor is not None:
        next_params = [("cursor", trace_list.encode_cursor(next_cursor)), ("shown", str(shown))]
        next_url = url_with(page_url, form.view_params() + next_params)
    # A partial update never shows the form, so it needs no suggestions for it.
    suggestions = (
        Suggestions()
        if wants_fragment(request)
        else trace_list.suggestions(session, access.project.id)
    )
    return TracesPage(
        access=access,
        form=form,
        rows=[row_view(r, project_url, scores.get(r.id)) for r in rows],
        page_url=page_url,
        view_url=url_with(page_url, form.view_params()),
        next_url=next_url,
        shown=shown,
        first_page=cursor is None,
        live=cursor is None and form.sort == "time",
        chips=chips(form, page_url),
        notes=form.notes,
        has_filters=form.has_filters,
        short_search=0 < len(form.q) < SEARCH_INDEXED_CHARS,
        sort_label=SORT_LABELS[form.sort],
        sort_urls={
            s: url_with(page_url, form.filter_params() + form.order_params(s)) for s in SORTS
        },
        base_url=str(request.base_url).rstrip("/"),
        keys_url=f"{project_url}/settings/keys",
        suggestions=suggestions,
    )


def wants_fragment(request: Request) -> bool:
    # On a history cache miss HTMX sends HX-Request too, but it puts the answer in <body>.
    history = request.headers.get("hx-history-restore-request") == "true"
    return is_fragment_request(request) and not history


@router.get("/project/{project_id}/traces")
def traces_page(request: Request, access: Access, session: SessionDep) -> Response:
    page = build_page(request, access, session)
    headers = {"Vary": "HX-Request"}
    if not wants_fragment(request):
        return render(request, "traces.html", page, headers=headers)
    if request.headers.get("hx-trigger") == FORM_ID:
        headers["HX-Push-Url"] = page.view_url  # the clean URL, without the form's empty fields
    # "Load more" (an HTMX request for a later page) gets only its rows and the next button.
    name = "more" if request.query_params.get("cursor") else "results"
    return render(request, "traces.html", page, fragment=name, headers=headers)
