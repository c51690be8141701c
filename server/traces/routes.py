from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from server.deps import SessionDep
from server.errors import BadRequest, NotFound
from server.ingest.sanitize import escape_text
from server.pagination import Limit, Page, page_meta, split_list
from server.projects.auth import ProjectDep
from server.traces import queries
from server.traces.schemas import DeleteTraces, Message
from server.views import observation_view, score_view, trace_view

router = APIRouter(prefix="/api/public", tags=["traces"])

TRACE_FIELDS = {"core", "io", "scores", "observations", "metrics"}


def _fields(raw: str | None) -> set[str]:
    if not raw:
        return set(TRACE_FIELDS)
    fields = {f.strip() for f in raw.split(",") if f.strip()}
    unknown = fields - TRACE_FIELDS
    if unknown:
        raise BadRequest(
            [{"path": ["fields"], "message": f"unknown field groups: {sorted(unknown)}"}]
        )
    return fields | {"core"}


def _order(raw: str | None) -> tuple[str, str]:
    if not raw:
        return "timestamp", "desc"
    column, _, direction = raw.partition(".")
    direction = direction or "desc"
    if column not in queries.ORDERABLE or direction not in ("asc", "desc"):
        raise BadRequest([{"path": ["orderBy"], "message": f"cannot order by {raw[:60]!r}"}])
    return column, direction


@router.get("/traces", summary="List traces, newest first, with latency, cost and child ids")
def list_traces(
    session: SessionDep,
    principal: ProjectDep,
    page: Page = 1,
    limit: Limit = 50,
    userId: str | None = None,
    name: str | None = None,
    sessionId: str | None = None,
    version: str | None = None,
    release: str | None = None,
    fromTimestamp: datetime | None = None,
    toTimestamp: datetime | None = None,
    orderBy: str | None = None,
    tags: Annotated[list[str] | None, Query()] = None,
    environment: Annotated[list[str] | None, Query()] = None,
    fields: str | None = None,
    filter: str | None = None,
) -> dict[str, Any]:
    if filter:
        raise BadRequest(
            [
                {
                    "path": ["filter"],
                    "message": "the JSON filter parameter is not supported yet; use the simple filters",
                }
            ]
        )
    groups = _fields(fields)
    filters = queries.TraceFilters(
        user_id=userId,
        name=name,
        session_id=sessionId,
        version=version,
        release=release,
        from_timestamp=fromTimestamp,
        to_timestamp=toTimestamp,
        tags=split_list(tags),
        environments=split_list(environment),
    )
    rows, total = queries.list_traces(
        session, principal.project_id, filters, order=_order(orderBy), page=page, limit=limit
    )
    aggregates = queries.aggregates(session, principal.project_id, [t.id for t in rows])
    data = []
    for trace in rows:
        agg = aggregates[trace.id]
        item = trace_view(trace, io="io" in groups)
        item["observations"] = agg.observation_ids if "observations" in groups else []
        item["scores"] = agg.score_ids if "scores" in groups else []
        item["latency"] = agg.latency if "metrics" in groups else -1
        item["totalCost"] = agg.total_cost if "metrics" in groups else -1
        data.append(item)
    return {"data": data, "meta": page_meta(page, limit, total)}


@router.get("/traces/{trace_id:path}", summary="One trace with its observations and scores")
def get_trace(trace_id: str, session: SessionDep, principal: ProjectDep) -> dict[str, Any]:
    trace = queries.get_trace(session, principal.project_id, escape_text(trace_id))
    if trace is None:
        raise NotFound(f"Trace {trace_id[:200]} not found within authorized project")
    observations = queries.observations_of(session, principal.project_id, trace.id)
    scores = queries.scores_of(session, principal.project_id, trace.id)
    # Latency and cost from the observations already loaded, not a second query.
    agg = queries.totals(
        (o.trace_id, o.id, o.start_time, o.end_time, o.total_cost) for o in observations
    )[trace.id]
    view = trace_view(trace)
    view["observations"] = [observation_view(o) for o in observations]
    view["scores"] = [score_view(s) for s in scores]
    view["latency"] = agg.latency
    view["totalCost"] = agg.total_cost
    # Spyglass additions: the trace's usage and cost per key, and what could not be priced.
    view["usageDetails"] = queries.sum_details(o.usage_details for o in observations)
    view["costDetails"] = queries.sum_details(o.cost_details for o in observations)
    view["unpricedObservations"] = sum(1 for o in observations if o.model and o.total_cost is None)
    return view


@router.delete("/traces/{trace_id:path}", response_model=Message, summary="Delete one trace")
def delete_trace(trace_id: str, session: SessionDep, principal: ProjectDep) -> Message:
    deleted = queries.delete_traces(session, principal.project_id, [escape_text(trace_id)])
    session.commit()
    if not deleted:
        raise NotFound(f"Trace {trace_id[:200]} not found within authorized project")
    return Message(message="Trace deleted successfully")


@router.delete("/traces", response_model=Message, summary="Delete up to 1000 traces")
def delete_traces(body: DeleteTraces, session: SessionDep, principal: ProjectDep) -> Message:
    queries.delete_traces(session, principal.project_id, [escape_text(t) for t in body.traceIds])
    session.commit()
    return Message(message="Traces deleted successfully")
