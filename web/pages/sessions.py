"""Sessions: the list of a project's sessions, and one session read as a conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from server.db.models import Score, Trace
from server.deps import SessionDep
from server.ingest.sanitize import restore
from web import content
from web.queries import sessions as queries
from web.queries.sessions import Cursor, Totals, TraceFilter
from web.security import Access, ProjectAccess
from web.templating import is_fragment_request, render
from web.timerange import PRESET_LABELS, TimeRange, parse_range

router = APIRouter(prefix="/project/{project_id}")

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
TURNS_PER_PAGE = 100
SHOWN_USERS = 3
RANGE_CHOICES = [(key, PRESET_LABELS[key]) for key in ("1h", "24h", "7d", "30d", "90d", "all")]


# --- helpers shared with the users pages -------------------------------------------------


def shown(stored: str) -> str:
    """A stored id or name as it was sent (see server.ingest.sanitize)."""
    return str(restore(stored))


def page_size(raw: str | None, default: int = PAGE_SIZE) -> int:
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = default
    return max(1, min(value, MAX_PAGE_SIZE))


def project_url(access: ProjectAccess, *parts: str, **params: str | None) -> str:
    path = "/".join(quote(p, safe="") for p in ("project", access.project.id, *parts))
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/{path}" + (f"?{query}" if query else "")


def range_params(window: TimeRange) -> dict[str, str | None]:
    if window.key != "custom":
        return {"range": window.key}
    return {
        "range": "custom",
        "from": window.start.isoformat() if window.start else None,
        "to": window.end.isoformat() if window.end else None,
    }


@dataclass
class UserLink:
    id: str
    url: str


@dataclass
class SessionRow:
    id: str
    url: str
    first_at: datetime | None
    last_at: datetime | None
    traces: int
    users: list[UserLink]
    more_users: int
    latency_ms: float | None
    tokens: int | None
    cost: float | None
    errors: int


def session_rows(
    session: Session, access: ProjectAccess, keys: list[str], where: TraceFilter
) -> list[SessionRow]:
    """Rows for a page of session ids, in the order given."""
    pid = access.project.id
    totals = queries.totals_by(session, pid, Trace.session_id, keys, where)
    users = queries.users_in(session, pid, keys, where)
    rows = []
    for key in keys:
        found = totals.get(key)
        people = [shown(u) for u in users.get(key, [])]
        rows.append(
            SessionRow(
                id=shown(key),
                url=project_url(access, "sessions", shown(key)),
                first_at=found.first_at if found else None,
                last_at=found.last_at if found else None,
                traces=found.traces if found else 0,
                users=[UserLink(u, project_url(access, "users", u)) for u in people[:SHOWN_USERS]],
                more_users=max(0, len(people) - SHOWN_USERS),
                latency_ms=found.latency_ms if found else None,
                tokens=found.total_tokens if found else None,
                cost=found.cost if found else None,
                errors=found.errors if found else 0,
            )
        )
    return rows


# --- the list ------------------------------------------------------------------------------


@dataclass
class SessionsPage:
    access: ProjectAccess
    rows: list[SessionRow]
    list_url: str
    window: TimeRange
    search: str
    user: str
    next_url: str | None
    capped: bool
    first_page: bool
    filtered: bool
    ranges: list[tuple[str, str]] = field(default_factory=lambda: RANGE_CHOICES)
    section: str = "sessions"


@router.get("/sessions")
def sessions_page(
    request: Request,
    access: Access,
    session: SessionDep,
    range_key: Annotated[str | None, Query(alias="range")] = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    q: str = "",
    user: str = "",
    cursor: str | None = None,
    limit: str | None = None,
) -> Response:
    window = parse_range(range_key, start, end, default="all")
    search, user = q.strip(), user.strip()
    where = TraceFilter(window.start, window.end, user_id=user or None, prefix=search or None)
    size = page_size(limit)
    after = Cursor.decode(cursor)
    found = queries.group_page(
        session, access.project.id, Trace.session_id, where, after=after, limit=size
    )
    next_url = None
    if found.next is not None:
        next_url = project_url(
            access,
            "sessions",
            **range_params(window),
            q=search,
            user=user,
            limit=str(size) if size != PAGE_SIZE else None,
            cursor=found.next.encode(),
        )
    page = SessionsPage(
        access=access,
        rows=session_rows(session, access, found.keys, where),
        list_url=project_url(access, "sessions"),
        window=window,
        search=search,
        user=user,
        next_url=next_url,
        capped=found.capped,
        first_page=after is None,
        filtered=bool(search or user or window.key != "all"),
    )
    return render(request, "sessions.html", page, fragment="results")


# --- one session ---------------------------------------------------------------------------


@dataclass
class ScoreChip:
    name: str
    value: str
    comment: str | None
    source: str


def score_chip(score: Score) -> ScoreChip:
    if score.data_type == "NUMERIC":
        value = f"{score.value:.3f}".rstrip("0").rstrip(".")
    else:
        value = shown(score.string_value) if score.string_value is not None else str(score.value)
    comment = shown(score.comment) if score.comment else None
    return ScoreChip(shown(score.name), value, comment, score.source)


@dataclass
class Said:
    """One side of a turn: the parts of the message shown for it."""

    role: str | None
    role_class: str
    parts: list[content.Part]
    tool_calls: list[content.ToolCall] = field(default_factory=list)
    note: str | None = None


def _pick(turns: list[content.Turn], role: str) -> tuple[content.Turn, str | None]:
    """The last message with `role` (else the last message), and a note when others exist."""
    chosen = next((t for t in reversed(turns) if t.role_class == role), turns[-1])
    note = None
    if len(turns) > 1:
        note = f"(last of {len(turns)} messages)"
    return chosen, note


def said(stored: str | None, role: str) -> Said | None:
    shown_as = content.from_stored(stored)
    if shown_as is None:
        return None
    if isinstance(shown_as, content.Conversation):
        if not shown_as.turns:
            return None
        turn, note = _pick(shown_as.turns, role)
        return Said(turn.role, turn.role_class, list(turn.parts), list(turn.tool_calls), note)
    return Said(None, role, [shown_as])


@dataclass
class TurnView:
    trace_id: str
    url: str
    name: str | None
    at: datetime
    user: UserLink | None
    latency_ms: float | None
    tokens: int | None
    cost: float | None
    errors: int
    input: Said | None
    output: Said | None
    scores: list[ScoreChip]


@dataclass
class SessionSummary:
    traces: int
    first_at: datetime
    last_at: datetime
    duration_ms: float
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    errors: int
    users: list[UserLink]
    more_users: int


@dataclass
class SessionPage:
    access: ProjectAccess
    session_id: str
    summary: SessionSummary
    scores: list[ScoreChip]
    turns: list[TurnView]
    next_url: str | None
    traces_url: str
    sessions_url: str
    first_page: bool
    section: str = "sessions"


def _summary(totals: Totals, users: list[UserLink], user_count: int) -> SessionSummary:
    return SessionSummary(
        traces=totals.traces,
        first_at=totals.first_at,
        last_at=totals.last_at,
        duration_ms=(totals.last_at - totals.first_at).total_seconds() * 1000.0,
        latency_ms=totals.latency_ms,
        input_tokens=totals.input_tokens,
        output_tokens=totals.output_tokens,
        cost=totals.cost,
        errors=totals.errors,
        users=users,
        more_users=max(0, user_count - len(users)),
    )


def _turn_views(
    session: Session, access: ProjectAccess, rows: list[queries.TurnRow]
) -> list[TurnView]:
    ids = [row.trace.id for row in rows]
    scores: dict[str, list[ScoreChip]] = {}
    for score in queries.trace_scores(session, access.project.id, ids):
        scores.setdefault(score.trace_id or "", []).append(score_chip(score))
    views = []
    for row in rows:
        trace = row.trace
        user = shown(trace.user_id) if trace.user_id is not None else None
        views.append(
            TurnView(
                trace_id=shown(trace.id),
                url=project_url(access, "traces", shown(trace.id)),
                name=shown(trace.name) if trace.name is not None else None,
                at=trace.timestamp,
                user=UserLink(user, project_url(access, "users", user)) if user else None,
                latency_ms=row.latency_ms,
                tokens=row.total_tokens,
                cost=row.cost,
                errors=row.errors,
                input=said(trace.input, "user"),
                output=said(trace.output, "assistant"),
                scores=scores.get(trace.id, []),
            )
        )
    return views


@dataclass
class MoreTurns:
    """The next turns of a session, for "Load more"."""

    turns: list[TurnView]
    next_url: str | None


@router.get("/sessions/{session_id:path}")
def session_page(
    request: Request,
    access: Access,
    session: SessionDep,
    session_id: str,
    cursor: str | None = None,
    limit: str | None = None,
) -> Response:
    pid = access.project.id
    if not queries.session_exists(session, pid, session_id):
        return not_found(request, "Session not found", f"No traces have session id {session_id}.")
    size = page_size(limit, TURNS_PER_PAGE)
    after = Cursor.decode(cursor)
    rows = queries.turns(session, pid, session_id, after=after, limit=size)
    next_url = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1].trace
        more: dict[str, Any] = {"cursor": Cursor(last.timestamp, last.id).encode()}
        if size != TURNS_PER_PAGE:
            more["limit"] = str(size)
        next_url = project_url(access, "sessions", session_id, **more)
    turns = _turn_views(session, access, rows)
    if after is not None and is_fragment_request(request):
        # "Load more" only needs the next turns; skip the totals and session scores.
        return render(request, "session.html", MoreTurns(turns, next_url), fragment="results")
    totals = queries.totals_of(session, pid, TraceFilter(session_id=session_id))
    if totals is None:  # deleted since the first look
        return not_found(request, "Session not found", f"No traces have session id {session_id}.")
    user_ids, user_count = queries.distinct_users(session, pid, session_id, 20)
    users = [UserLink(shown(u), project_url(access, "users", shown(u))) for u in user_ids]
    page = SessionPage(
        access=access,
        session_id=session_id,
        summary=_summary(totals, users, user_count),
        scores=[score_chip(s) for s in queries.session_scores(session, pid, session_id, 100)],
        turns=turns,
        next_url=next_url,
        traces_url=project_url(access, "traces", session=session_id, range="all"),
        sessions_url=project_url(access, "sessions"),
        first_page=after is None,
    )
    return render(request, "session.html", page, fragment="results")


def not_found(request: Request, title: str, message: str) -> Response:
    # Imported here: web.app imports this module while it is being set up.
    from web.app import error_page

    return error_page(request, 404, title, message)
