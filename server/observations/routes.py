from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query

from server.db.models import Observation, Trace
from server.deps import SessionDep
from server.errors import BadRequest, NotFound
from server.ingest.sanitize import escape_text, restore_json_text
from server.observations import queries
from server.pagination import Limit, Page, decode_cursor, encode_cursor, page_meta, split_list
from server.projects.auth import ProjectDep
from server.views import observation_view, seconds_between

router = APIRouter(prefix="/api/public", tags=["observations"])

ObsType = Literal[
    "SPAN",
    "GENERATION",
    "EVENT",
    "AGENT",
    "TOOL",
    "CHAIN",
    "RETRIEVER",
    "EVALUATOR",
    "EMBEDDING",
    "GUARDRAIL",
]
Level = Literal["DEBUG", "DEFAULT", "WARNING", "ERROR"]
V2_GROUPS = {
    "core",
    "basic",
    "time",
    "io",
    "metadata",
    "model",
    "usage",
    "prompt",
    "metrics",
    "trace_context",
}


def _filters(
    name: str | None = None,
    userId: str | None = None,
    sessionId: str | None = None,
    type: ObsType | None = None,
    traceId: str | None = None,
    level: Level | None = None,
    parentObservationId: str | None = None,
    isRootObservation: bool | None = None,
    environment: Annotated[list[str] | None, Query()] = None,
    fromStartTime: datetime | None = None,
    toStartTime: datetime | None = None,
    version: str | None = None,
) -> queries.ObservationFilters:
    return queries.ObservationFilters(
        name=name,
        user_id=userId,
        session_id=sessionId,
        type=type,
        trace_id=traceId,
        level=level,
        parent_observation_id=parentObservationId,
        is_root=isRootObservation,
        environments=split_list(environment),
        from_start_time=fromStartTime,
        to_start_time=toStartTime,
        version=version,
    )


@router.get("/observations", summary="List observations, page by page (legacy)")
def list_observations(
    session: SessionDep,
    principal: ProjectDep,
    page: Page = 1,
    limit: Limit = 50,
    name: str | None = None,
    userId: str | None = None,
    type: ObsType | None = None,
    traceId: str | None = None,
    level: Level | None = None,
    parentObservationId: str | None = None,
    environment: Annotated[list[str] | None, Query()] = None,
    fromStartTime: datetime | None = None,
    toStartTime: datetime | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    f = _filters(
        name=name,
        userId=userId,
        type=type,
        traceId=traceId,
        level=level,
        parentObservationId=parentObservationId,
        environment=environment,
        fromStartTime=fromStartTime,
        toStartTime=toStartTime,
        version=version,
    )
    rows, total = queries.page(session, principal.project_id, f, page=page, limit=limit)
    return {"data": [observation_view(o) for o, _ in rows], "meta": page_meta(page, limit, total)}


@router.get("/observations/{observation_id:path}", summary="One observation")
def get_observation(
    observation_id: str, session: SessionDep, principal: ProjectDep
) -> dict[str, Any]:
    obs = queries.get(session, principal.project_id, escape_text(observation_id))
    if obs is None:
        raise NotFound(f"Observation {observation_id[:200]} not found within authorized project")
    return observation_view(obs)


@router.get(
    "/v2/observations", summary="Observations with cursor paging and selectable field groups"
)
def list_observations_v2(
    session: SessionDep,
    principal: ProjectDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
    fields: str | None = None,
    name: str | None = None,
    userId: str | None = None,
    sessionId: str | None = None,
    type: ObsType | None = None,
    traceId: str | None = None,
    level: Level | None = None,
    parentObservationId: str | None = None,
    isRootObservation: bool | None = None,
    environment: Annotated[list[str] | None, Query()] = None,
    fromStartTime: datetime | None = None,
    toStartTime: datetime | None = None,
    version: str | None = None,
    filter: str | None = None,
    expandMetadata: str | None = None,
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
    groups = _groups(fields)
    f = _filters(
        name=name,
        userId=userId,
        sessionId=sessionId,
        type=type,
        traceId=traceId,
        level=level,
        parentObservationId=parentObservationId,
        isRootObservation=isRootObservation,
        environment=environment,
        fromStartTime=fromStartTime,
        toStartTime=toStartTime,
        version=version,
    )
    position = decode_cursor(cursor)
    rows = queries.after_cursor(session, principal.project_id, f, cursor=position, limit=limit + 1)
    meta: dict[str, Any] = {}
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        meta["cursor"] = encode_cursor(last.start_time, last.id)
    return {"data": [_v2_view(o, t, groups) for o, t in rows], "meta": meta}


def _groups(raw: str | None) -> set[str]:
    if not raw:
        return {"core", "basic"}
    groups = {g.strip() for g in raw.split(",") if g.strip()}
    unknown = groups - V2_GROUPS
    if unknown:
        raise BadRequest(
            [{"path": ["fields"], "message": f"unknown field groups: {sorted(unknown)}"}]
        )
    return groups | {"core"}


def _raw_io(text: str | None) -> str | None:
    """v2 returns input/output as strings: a string value as is, anything else as JSON text."""
    if text is None:
        return None
    text = restore_json_text(text)
    if text.startswith('"'):
        value: str = orjson.loads(text)
        return value
    return text


def _v2_view(obs: Observation, trace: Trace | None, groups: set[str]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": obs.id,
        "traceId": obs.trace_id,
        "startTime": obs.start_time,
        "endTime": obs.end_time,
        "projectId": obs.project_id,
        "parentObservationId": obs.parent_observation_id,
        "type": obs.type,
    }
    if "basic" in groups:
        view.update(
            name=obs.name,
            level=obs.level,
            statusMessage=obs.status_message,
            version=obs.version,
            environment=obs.environment,
            bookmarked=trace.bookmarked if trace else False,
            public=trace.public if trace else False,
            userId=trace.user_id if trace else None,
            sessionId=trace.session_id if trace else None,
            isRootObservation=obs.parent_observation_id is None,
        )
    if "time" in groups:
        view.update(
            completionStartTime=obs.completion_start_time,
            createdAt=obs.created_at,
            updatedAt=obs.updated_at,
        )
    if "io" in groups:
        view.update(input=_raw_io(obs.input), output=_raw_io(obs.output))
    if "metadata" in groups:
        view["metadata"] = (
            obs.metadata_
            if isinstance(obs.metadata_, dict)
            else ({} if obs.metadata_ is None else {"metadata": obs.metadata_})
        )
    if "model" in groups:
        view.update(
            model=obs.model,
            providedModelName=obs.model,
            internalModelId=None,
            modelParameters=obs.model_parameters or {},
        )
    if "usage" in groups:
        view.update(
            usageDetails=obs.usage_details or {},
            costDetails=obs.cost_details or {},
            totalCost=obs.total_cost,
            usagePricingTierName=obs.pricing_tier,
        )
    if "prompt" in groups:
        view.update(promptId=None, promptName=obs.prompt_name, promptVersion=obs.prompt_version)
    if "metrics" in groups:
        view.update(
            latency=seconds_between(obs.start_time, obs.end_time),
            timeToFirstToken=seconds_between(obs.start_time, obs.completion_start_time),
        )
    if "trace_context" in groups:
        view.update(
            traceName=trace.name if trace else None,
            tags=trace.tags if trace else [],
            release=trace.release if trace else None,
        )
    return view
