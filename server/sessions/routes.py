from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from server.deps import SessionDep
from server.errors import NotFound
from server.ingest.sanitize import escape_text
from server.pagination import Limit, Page, page_meta, split_list
from server.projects.auth import ProjectDep
from server.sessions import queries
from server.traces.queries import aggregates
from server.views import trace_view

router = APIRouter(prefix="/api/public", tags=["sessions"])


@router.get("/sessions", summary="Sessions: the distinct session ids of traces, newest first")
def list_sessions(
    session: SessionDep,
    principal: ProjectDep,
    page: Page = 1,
    limit: Limit = 50,
    fromTimestamp: datetime | None = None,
    toTimestamp: datetime | None = None,
    environment: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    rows, total = queries.list_sessions(
        session,
        principal.project_id,
        from_ts=fromTimestamp,
        to_ts=toTimestamp,
        environments=split_list(environment),
        page=page,
        limit=limit,
    )
    data = [
        {"id": sid, "createdAt": created, "projectId": principal.project_id, "environment": env}
        for sid, created, env in rows
    ]
    return {"data": data, "meta": page_meta(page, limit, total)}


@router.get("/sessions/{session_id:path}", summary="One session with its traces in order")
def get_session(session_id: str, session: SessionDep, principal: ProjectDep) -> dict[str, Any]:
    traces = queries.traces_of_session(session, principal.project_id, escape_text(session_id))
    if not traces:
        raise NotFound(f"Session {session_id[:200]} not found within authorized project")
    aggs = aggregates(session, principal.project_id, [t.id for t in traces])
    views = []
    for trace in traces:
        view = trace_view(trace)
        view.update(latency=aggs[trace.id].latency, totalCost=aggs[trace.id].total_cost)
        views.append(view)
    return {
        "id": traces[0].session_id,
        "createdAt": traces[0].timestamp,
        "projectId": principal.project_id,
        "environment": traces[0].environment,
        "traces": views,
    }
