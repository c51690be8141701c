"""Users: the list of a project's end users, and one user's usage, sessions and traces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from server.db.models import Trace
from server.deps import SessionDep
from web.charts import Series, TimeChart, Unit, align, bucket_of, bucket_size, bucket_starts
from web.pages.sessions import (
    PAGE_SIZE,
    RANGE_CHOICES,
    SessionRow,
    not_found,
    page_size,
    project_url,
    range_params,
    session_rows,
    shown,
)
from web.queries import people as queries
from web.queries.people import CHART_ROW_CAP, UsagePoint
from web.queries.sessions import Cursor, TraceFilter, group_page, totals_by, totals_of
from web.security import Access, ProjectAccess
from web.templating import is_fragment_request, render
from web.timerange import TimeRange, parse_range

router = APIRouter(prefix="/project/{project_id}")

TRACES_PER_PAGE = 50
RECENT_SESSIONS = 20


# --- the list ------------------------------------------------------------------------------


@dataclass
class UserRow:
    id: str
    url: str
    traces: int
    first_at: datetime | None
    last_at: datetime | None
    tokens: int | None
    cost: float | None
    errors: int


@dataclass
class UsersPage:
    access: ProjectAccess
    rows: list[UserRow]
    list_url: str
    window: TimeRange
    search: str
    next_url: str | None
    capped: bool
    first_page: bool
    filtered: bool
    ranges: list[tuple[str, str]] = field(default_factory=lambda: RANGE_CHOICES)
    section: str = "users"


def _user_rows(
    session: Session, access: ProjectAccess, keys: list[str], where: TraceFilter
) -> list[UserRow]:
    totals = totals_by(session, access.project.id, Trace.user_id, keys, where)
    rows = []
    for key in keys:
        found = totals.get(key)
        rows.append(
            UserRow(
                id=shown(key),
                url=project_url(access, "users", shown(key)),
                traces=found.traces if found else 0,
                first_at=found.first_at if found else None,
                last_at=found.last_at if found else None,
                tokens=found.total_tokens if found else None,
                cost=found.cost if found else None,
                errors=found.errors if found else 0,
            )
        )
    return rows


@router.get("/users")
def users_page(
    request: Request,
    access: Access,
    session: SessionDep,
    range_key: Annotated[str | None, Query(alias="range")] = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    q: str = "",
    cursor: str | None = None,
    limit: str | None = None,
) -> Response:
    window = parse_range(range_key, start, end, default="all")
    search = q.strip()
    where = TraceFilter(window.start, window.end, prefix=search or None)
    size = page_size(limit)
    after = Cursor.decode(cursor)
    found = group_page(session, access.project.id, Trace.user_id, where, after=after, limit=size)
    next_url = None
    if found.next is not None:
        next_url = project_url(
            access,
            "users",
            **range_params(window),
            q=search,
            limit=str(size) if size != PAGE_SIZE else None,
            cursor=found.next.encode(),
        )
    page = UsersPage(
        access=access,
        rows=_user_rows(session, access, found.keys, where),
        list_url=project_url(access, "users"),
        window=window,
        search=search,
        next_url=next_url,
        capped=found.capped,
        first_page=after is None,
        filtered=bool(search or window.key != "all"),
    )
    return render(request, "users.html", page, fragment="results")


# --- one user ------------------------------------------------------------------------------


@dataclass
class UserSummary:
    traces: int
    sessions: int
    first_at: datetime | None
    last_at: datetime | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    errors: int


@dataclass
class SessionLink:
    id: str
    url: str


@dataclass
class TraceLineView:
    id: str
    url: str
    name: str | None
    at: datetime
    session: SessionLink | None
    latency_ms: float | None
    tokens: int | None
    cost: float | None
    errors: int


@dataclass
class UserPage:
    access: ProjectAccess
    user_id: str
    page_url: str
    window: TimeRange
    summary: UserSummary
    charts: list[TimeChart]
    chart_capped: bool
    chart_cap: int
    sessions: list[SessionRow]
    sessions_url: str
    traces: list[TraceLineView]
    traces_url: str
    users_url: str
    next_url: str | None
    first_page: bool
    ranges: list[tuple[str, str]] = field(default_factory=lambda: RANGE_CHOICES)
    section: str = "users"


@dataclass
class MoreTraces:
    """The next rows of a user's traces, for "Load more"."""

    traces: list[TraceLineView]
    next_url: str | None


def per_bucket(
    points: list[UsagePoint], xs: list[int], bucket: int
) -> dict[str, dict[int, float | None]]:
    """Traces, input/output tokens and cost summed per bucket start.

    A bucket without traces used nothing (0); one whose traces all lack a figure is unknown
    (None, drawn as a gap). With no traces at all every bucket is None: "No data".
    """
    zero: float | None = 0 if points else None
    sums: dict[str, dict[int, float | None]] = {
        name: dict.fromkeys(xs, zero) for name in ("traces", "input", "output", "cost")
    }
    counted: set[int] = set()
    for point in points:
        b = bucket_of(point.timestamp, bucket)
        if b not in counted:
            counted.add(b)
            sums["traces"][b] = 0
            for name in ("input", "output", "cost"):
                sums[name][b] = None
        sums["traces"][b] = (sums["traces"][b] or 0) + 1
        for name, value in (
            ("input", point.input_tokens),
            ("output", point.output_tokens),
            ("cost", point.cost),
        ):
            if value is not None:
                sums[name][b] = (sums[name][b] or 0) + value
    return sums


def usage_charts(
    points: list[UsagePoint], window: TimeRange, link: str, now: datetime
) -> list[TimeChart]:
    """Traces, tokens (input/output) and cost per time bucket over the range."""
    start = window.start or (points[0].timestamp if points else now)
    end = window.end or max([now, *(p.timestamp for p in points[-1:])])
    bucket = bucket_size(end - start)
    xs = bucket_starts(start, end, bucket)
    sums = per_bucket(points, xs, bucket)

    def chart(id_: str, title: str, unit: Unit, *series: Series) -> TimeChart:
        return TimeChart(id_, title, unit, bucket, xs, list(series), link=link)

    return [
        chart("user-traces", "Traces", "count", Series("Traces", align(xs, sums["traces"]))),
        chart(
            "user-tokens",
            "Tokens",
            "tokens",
            Series("Input tokens", align(xs, sums["input"])),
            Series("Output tokens", align(xs, sums["output"])),
        ),
        chart("user-cost", "Cost", "usd", Series("Cost", align(xs, sums["cost"]))),
    ]


def _trace_lines(access: ProjectAccess, lines: list[queries.TraceLine]) -> list[TraceLineView]:
    views = []
    for line in lines:
        session = None
        if line.session_id is not None:
            sid = shown(line.session_id)
            session = SessionLink(sid, project_url(access, "sessions", sid))
        views.append(
            TraceLineView(
                id=shown(line.id),
                url=project_url(access, "traces", shown(line.id)),
                name=shown(line.name) if line.name is not None else None,
                at=line.timestamp,
                session=session,
                latency_ms=line.latency_ms,
                tokens=line.total_tokens,
                cost=line.cost,
                errors=line.errors,
            )
        )
    return views


def _summary(session: Session, pid: str, where: TraceFilter) -> UserSummary:
    totals = totals_of(session, pid, where)
    if totals is None:
        return UserSummary(0, 0, None, None, None, None, None, 0)
    return UserSummary(
        traces=totals.traces,
        sessions=queries.session_count(session, pid, where),
        first_at=totals.first_at,
        last_at=totals.last_at,
        input_tokens=totals.input_tokens,
        output_tokens=totals.output_tokens,
        cost=totals.cost,
        errors=totals.errors,
    )


@router.get("/users/{user_id:path}")
def user_page(
    request: Request,
    access: Access,
    session: SessionDep,
    user_id: str,
    range_key: Annotated[str | None, Query(alias="range")] = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: str | None = None,
) -> Response:
    pid = access.project.id
    if not queries.user_exists(session, pid, user_id):
        return not_found(request, "User not found", f"No traces have user id {user_id}.")
    window = parse_range(range_key, start, end, default="30d")
    where = TraceFilter(window.start, window.end, user_id=user_id)
    size = page_size(limit, TRACES_PER_PAGE)
    before = Cursor.decode(cursor)
    lines = queries.recent_traces(session, pid, where, before=before, limit=size)
    next_url = None
    if len(lines) > size:
        lines = lines[:size]
        more = {"cursor": Cursor(lines[-1].timestamp, lines[-1].id).encode()}
        if size != TRACES_PER_PAGE:
            more["limit"] = str(size)
        next_url = project_url(access, "users", user_id, **range_params(window), **more)
    if before is not None and is_fragment_request(request):
        # "Load more" only needs the next rows; skip the totals, charts and sessions.
        more_rows = MoreTraces(_trace_lines(access, lines), next_url)
        return render(request, "user.html", more_rows, fragment="results")
    points = queries.usage_points(session, pid, where)
    capped = len(points) > CHART_ROW_CAP
    link = (
        f"/project/{quote(pid, safe='')}/traces?user={quote(user_id, safe='')}"
        "&range=custom&from={from}&to={to}"
    )
    recent = group_page(session, pid, Trace.session_id, where, after=None, limit=RECENT_SESSIONS)
    page = UserPage(
        access=access,
        user_id=user_id,
        page_url=project_url(access, "users", user_id),
        window=window,
        summary=_summary(session, pid, where),
        charts=usage_charts(points[:CHART_ROW_CAP], window, link, datetime.now(UTC)),
        chart_capped=capped,
        chart_cap=CHART_ROW_CAP,
        sessions=session_rows(session, access, recent.keys, where),
        sessions_url=project_url(access, "sessions", user=user_id, **range_params(window)),
        traces=_trace_lines(access, lines),
        traces_url=project_url(access, "traces", user=user_id, **range_params(window)),
        users_url=project_url(access, "users"),
        next_url=next_url,
        first_page=before is None,
    )
    return render(request, "user.html", page, fragment="results")
