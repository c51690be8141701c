"""Sessions: the traces of a project grouped by `session_id`.

Listing sessions by last activity is, in SQL, `GROUP BY session_id ORDER BY max(timestamp)`:
that reads every trace of the project for every page, which does not stay fast at 100k traces.
Instead `group_page` walks the traces newest first through (project_id, timestamp) — or
(project_id, user_id, timestamp) when filtered by user — in chunks, and keeps each group key
the first time it is seen: that is the order of the groups' last activity. It stops once it
has a page (or after `SCAN_CAP` traces, when the page ends early and "Load more" continues
the walk). Only the page's groups are then aggregated (`totals_by`), each through the
(project_id, session_id|user_id, timestamp) index joined to `trace_rollups` by primary key.

A search (a prefix of the group key, any case) walks a window of the `SCAN_CAP` most recent
traces (`_window_floor`); with a rare prefix a page can come back short, and "Load more"
searches the next window back.

The keyset cursor is a position in that walk (timestamp, id). A later page skips the groups
that have a trace at or after the cursor: those were on an earlier page.

All figures are over the traces that match the filters (time range, user), so a session that
crosses the edge of the range counts only its traces inside it.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.db.dialect import escape_like
from server.db.models import Score, Trace, TraceRollup
from server.ingest.sanitize import escape_text

SCAN_CAP = 20_000  # traces one request may walk to find a page of groups
_FIRST_CHUNK = 250
_MAX_CHUNK = 5_000

GroupColumn = InstrumentedAttribute[str | None]


@dataclass(frozen=True)
class Cursor:
    """A position in traces ordered by (timestamp, id)."""

    timestamp: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.timestamp.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        """None for a missing or malformed cursor (the list then starts from the top)."""
        if not raw:
            return None
        try:
            moment, trace_id = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            return cls(datetime.fromisoformat(moment), str(trace_id))
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True)
class TraceFilter:
    """Which traces count (a time window, one user or session) and which groups (a prefix)."""

    start: datetime | None = None
    end: datetime | None = None
    user_id: str | None = None
    session_id: str | None = None
    prefix: str | None = None


@dataclass
class GroupPage:
    keys: list[str]
    next: Cursor | None  # None: nothing after this page
    capped: bool = False  # the walk stopped at SCAN_CAP before the page was full


@dataclass
class Totals:
    first_at: datetime
    last_at: datetime
    traces: int
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost: float | None  # None: no trace has a known cost
    errors: int


def conditions(project_id: str, where: TraceFilter) -> list[ColumnElement[bool]]:
    """The trace filters; the key prefix is only for choosing groups (see `group_page`)."""
    found: list[ColumnElement[bool]] = [Trace.project_id == project_id]
    if where.start is not None:
        found.append(Trace.timestamp >= where.start)
    if where.end is not None:
        found.append(Trace.timestamp < where.end)
    if where.user_id is not None:
        found.append(Trace.user_id == escape_text(where.user_id))
    if where.session_id is not None:
        found.append(Trace.session_id == escape_text(where.session_id))
    return found


def _before(cursor: Cursor) -> ColumnElement[bool]:
    # The plain bound on timestamp lets both databases range-scan the index.
    return and_(
        Trace.timestamp <= cursor.timestamp,
        or_(Trace.timestamp < cursor.timestamp, Trace.id < cursor.id),
    )


def _at_or_after(cursor: Cursor) -> ColumnElement[bool]:
    return and_(
        Trace.timestamp >= cursor.timestamp,
        or_(Trace.timestamp > cursor.timestamp, Trace.id >= cursor.id),
    )


def group_page(
    session: Session,
    project_id: str,
    key: GroupColumn,
    where: TraceFilter,
    *,
    after: Cursor | None,
    limit: int,
) -> GroupPage:
    """The next `limit` group keys by last activity (see the module docstring)."""
    base = [*conditions(project_id, where), key.is_not(None)]
    walk = list(base)
    floor = None
    if where.prefix:
        pattern = escape_like(escape_text(where.prefix)) + "%"
        walk.append(key.ilike(pattern, escape="\\"))
        floor = _window_floor(session, project_id, where, after)
        if floor is not None:
            walk.append(Trace.timestamp >= floor)
    accepted: list[tuple[str, Cursor]] = []
    seen: set[str] = set()
    position, scanned, chunk = after, 0, max(_FIRST_CHUNK, limit * 5)
    while scanned < SCAN_CAP:
        query = select(key, Trace.timestamp, Trace.id).where(*walk)
        if position is not None:
            query = query.where(_before(position))
        rows = session.execute(
            query.order_by(Trace.timestamp.desc(), Trace.id.desc()).limit(chunk)
        ).all()
        new: list[tuple[str, Cursor]] = []
        for group, moment, trace_id in rows:
            if group is not None and group not in seen:
                seen.add(group)
                new.append((group, Cursor(moment, trace_id)))
        if after is not None and new:
            shown = _shown_before(session, key, base, [g for g, _ in new], after)
            new = [item for item in new if item[0] not in shown]
        for item in new:
            accepted.append(item)
            if len(accepted) > limit:
                return GroupPage([g for g, _ in accepted[:limit]], accepted[limit - 1][1])
        scanned += len(rows)
        if len(rows) < chunk:
            # The end of the traces, or of the search window (then continue below it: an
            # empty id sorts first, so this cursor skips every trace at `floor`).
            below = None if floor is None else Cursor(floor, "")
            return GroupPage([g for g, _ in accepted], below, capped=below is not None)
        position = Cursor(rows[-1][1], rows[-1][2])
        chunk = min(chunk * 2, _MAX_CHUNK)
    return GroupPage([g for g, _ in accepted], position, capped=True)


def _window_floor(
    session: Session, project_id: str, where: TraceFilter, after: Cursor | None
) -> datetime | None:
    """The timestamp `SCAN_CAP` traces below `after`; None when fewer traces are left.

    A search filters on the key with LIKE, which no index serves on both databases: without
    this bound the database would walk the whole project for a prefix that matches nothing.
    Strictly below `after`, so that every "Load more" moves on.
    """
    query = select(Trace.timestamp).where(*conditions(project_id, where))
    if after is not None:
        query = query.where(Trace.timestamp < after.timestamp)
    found: datetime | None = session.scalar(
        query.order_by(Trace.timestamp.desc()).offset(SCAN_CAP).limit(1)
    )
    return found


def _shown_before(
    session: Session,
    key: GroupColumn,
    base: list[ColumnElement[bool]],
    keys: list[str],
    cursor: Cursor,
) -> set[str]:
    query = select(key).distinct().where(*base, key.in_(keys), _at_or_after(cursor))
    return {str(k) for k in session.scalars(query)}


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _rollup_join() -> ColumnElement[bool]:
    return and_(TraceRollup.project_id == Trace.project_id, TraceRollup.trace_id == Trace.id)


def _totals_columns() -> list[Any]:
    return [
        func.min(Trace.timestamp),
        func.max(Trace.timestamp),
        func.count(),
        func.sum(TraceRollup.latency_ms),
        func.sum(TraceRollup.input_tokens),
        func.sum(TraceRollup.output_tokens),
        func.sum(TraceRollup.total_tokens),
        func.sum(TraceRollup.total_cost),
        func.sum(TraceRollup.error_count),
    ]


def _totals(row: Sequence[Any]) -> Totals:
    return Totals(
        first_at=row[0],
        last_at=row[1],
        traces=int(row[2]),
        latency_ms=_float(row[3]),
        input_tokens=_int(row[4]),
        output_tokens=_int(row[5]),
        total_tokens=_int(row[6]),
        cost=_float(row[7]),
        errors=int(row[8] or 0),
    )


def totals_by(
    session: Session, project_id: str, key: GroupColumn, keys: list[str], where: TraceFilter
) -> dict[str, Totals]:
    """Figures for each of a page's groups (a page holds at most a few hundred)."""
    if not keys:
        return {}
    query = (
        select(key, *_totals_columns())
        .select_from(Trace)
        .outerjoin(TraceRollup, _rollup_join())
        .where(*conditions(project_id, where), key.in_(keys))
        .group_by(key)
    )
    return {str(row[0]): _totals(row[1:]) for row in session.execute(query)}


def totals_of(session: Session, project_id: str, where: TraceFilter) -> Totals | None:
    """Figures over all traces matching `where` (one session, or one user's range)."""
    query = (
        select(*_totals_columns())
        .select_from(Trace)
        .outerjoin(TraceRollup, _rollup_join())
        .where(*conditions(project_id, where))
    )
    row = session.execute(query).one()
    return None if int(row[2]) == 0 else _totals(row)


def users_in(
    session: Session, project_id: str, session_ids: list[str], where: TraceFilter
) -> dict[str, list[str]]:
    """The users of each session, in the order they first appear."""
    if not session_ids:
        return {}
    query = (
        select(Trace.session_id, Trace.user_id, func.min(Trace.timestamp).label("first"))
        .where(
            *conditions(project_id, where),
            Trace.session_id.in_(session_ids),
            Trace.user_id.is_not(None),
        )
        .group_by(Trace.session_id, Trace.user_id)
        .order_by(Trace.session_id, "first", Trace.user_id)
    )
    found: dict[str, list[str]] = defaultdict(list)
    for session_id, user_id, _ in session.execute(query):
        found[str(session_id)].append(str(user_id))
    return found


def session_exists(session: Session, project_id: str, session_id: str) -> bool:
    query = select(Trace.id).where(
        Trace.project_id == project_id, Trace.session_id == escape_text(session_id)
    )
    return session.scalar(query.limit(1)) is not None


@dataclass
class TurnRow:
    trace: Trace
    latency_ms: float | None
    total_tokens: int | None
    cost: float | None
    errors: int


def turns(
    session: Session, project_id: str, session_id: str, *, after: Cursor | None, limit: int
) -> list[TurnRow]:
    """A session's traces oldest first, after `after`; `limit + 1` rows tell if more follow."""
    query = (
        select(
            Trace,
            TraceRollup.latency_ms,
            TraceRollup.total_tokens,
            TraceRollup.total_cost,
            TraceRollup.error_count,
        )
        .outerjoin(TraceRollup, _rollup_join())
        .where(Trace.project_id == project_id, Trace.session_id == escape_text(session_id))
    )
    if after is not None:
        query = query.where(
            Trace.timestamp >= after.timestamp,
            or_(Trace.timestamp > after.timestamp, Trace.id > after.id),
        )
    rows = session.execute(query.order_by(Trace.timestamp, Trace.id).limit(limit + 1))
    return [
        TurnRow(trace, _float(latency), _int(tokens), _float(cost), int(errors or 0))
        for trace, latency, tokens, cost, errors in rows
    ]


MAX_SCORES = 2_000


def trace_scores(session: Session, project_id: str, trace_ids: list[str]) -> list[Score]:
    if not trace_ids:
        return []
    query = (
        select(Score)
        .where(Score.project_id == project_id, Score.trace_id.in_(trace_ids))
        .order_by(Score.timestamp, Score.id)
        .limit(MAX_SCORES)
    )
    return list(session.scalars(query))


def session_scores(session: Session, project_id: str, session_id: str, limit: int) -> list[Score]:
    query = (
        select(Score)
        .where(Score.project_id == project_id, Score.session_id == escape_text(session_id))
        .order_by(Score.timestamp, Score.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def distinct_users(
    session: Session, project_id: str, session_id: str, limit: int
) -> tuple[list[str], int]:
    """Up to `limit` users of a session (first seen first), and how many there are in all."""
    query = (
        select(Trace.user_id, func.min(Trace.timestamp).label("first"))
        .where(
            Trace.project_id == project_id,
            Trace.session_id == escape_text(session_id),
            Trace.user_id.is_not(None),
        )
        .group_by(Trace.user_id)
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by("first", Trace.user_id).limit(limit))
    return [str(user_id) for user_id, _ in rows], int(total)
