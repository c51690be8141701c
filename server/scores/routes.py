from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from server.db.models import Score
from server.deps import SessionDep
from server.errors import BadRequest, NotFound
from server.ingest.sanitize import escape_text
from server.pagination import decode_cursor, encode_cursor, split_list
from server.projects.auth import ProjectDep
from server.responses import ApiResponse
from server.scores import queries
from server.views import score_view

router = APIRouter(prefix="/api/public", tags=["scores"])
V3_GROUPS = {"details", "subject", "annotation"}
MultiValue = Annotated[list[str] | None, Query()]


@router.get("/v3/scores", summary="Scores with cursor paging; value typed by dataType")
def list_scores_v3(
    session: SessionDep,
    principal: ProjectDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: str | None = None,
    fields: str | None = None,
    id: MultiValue = None,
    name: MultiValue = None,
    source: MultiValue = None,
    dataType: MultiValue = None,
    environment: MultiValue = None,
    configId: MultiValue = None,
    traceId: MultiValue = None,
    observationId: MultiValue = None,
    sessionId: MultiValue = None,
    experimentId: MultiValue = None,
    queueId: MultiValue = None,
    authorUserId: MultiValue = None,
    value: MultiValue = None,
    valueMin: float | None = None,
    valueMax: float | None = None,
    fromTimestamp: datetime | None = None,
    toTimestamp: datetime | None = None,
) -> dict[str, Any]:
    groups = {g.strip() for g in (fields or "").split(",") if g.strip()}
    if groups - V3_GROUPS:
        raise BadRequest(
            [{"path": ["fields"], "message": f"unknown field groups: {sorted(groups - V3_GROUPS)}"}]
        )
    if observationId and not traceId:
        raise BadRequest([{"path": ["observationId"], "message": "observationId needs traceId"}])
    if sum(bool(x) for x in (traceId, sessionId, experimentId)) > 1:
        raise BadRequest(
            [
                {
                    "path": ["traceId"],
                    "message": "traceId, sessionId and experimentId are mutually exclusive",
                }
            ]
        )
    f = queries.ScoreFilters(
        ids=split_list(id),
        names=split_list(name),
        sources=split_list(source),
        data_types=split_list(dataType),
        environments=split_list(environment),
        config_ids=split_list(configId),
        trace_ids=split_list(traceId),
        observation_ids=split_list(observationId),
        session_ids=split_list(sessionId),
        dataset_run_ids=split_list(experimentId),
        queue_ids=split_list(queueId),
        author_user_ids=split_list(authorUserId),
        values=split_list(value),
        value_min=valueMin,
        value_max=valueMax,
        from_timestamp=fromTimestamp,
        to_timestamp=toTimestamp,
    )
    position = decode_cursor(cursor)
    rows = queries.after_cursor(session, principal.project_id, f, cursor=position, limit=limit + 1)
    meta: dict[str, Any] = {"limit": limit}
    if len(rows) > limit:
        rows = rows[:limit]
        meta["cursor"] = encode_cursor(rows[-1].timestamp, rows[-1].id)
    return {"data": [_v3_view(s, groups) for s in rows], "meta": meta}


def _v3_value(score: Score) -> Any:
    if score.data_type == "NUMERIC":
        return score.value
    if score.data_type == "BOOLEAN":
        return score.value == 1.0
    return score.string_value


def _v3_view(score: Score, groups: set[str]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": score.id,
        "projectId": score.project_id,
        "name": score.name,
        "value": _v3_value(score),
        "dataType": score.data_type,
        "source": score.source,
        "timestamp": score.timestamp,
        "environment": score.environment,
        "createdAt": score.created_at,
        "updatedAt": score.updated_at,
        "traceId": score.trace_id,
        "observationId": score.observation_id,
        "sessionId": score.session_id,
    }
    if "details" in groups:
        view.update(comment=score.comment, metadata=score.metadata_ or {}, configId=score.config_id)
    if "subject" in groups:
        view["subject"] = _subject(score)
    if "annotation" in groups:
        view.update(queueId=score.queue_id, authorUserId=score.author_user_id)
    return view


def _subject(score: Score) -> dict[str, Any]:
    if score.observation_id:
        return {"kind": "observation", "id": score.observation_id, "traceId": score.trace_id}
    if score.trace_id:
        return {"kind": "trace", "id": score.trace_id}
    if score.session_id:
        return {"kind": "session", "id": score.session_id}
    return {"kind": "experiment", "id": score.dataset_run_id}


@router.get("/scores/{score_id:path}", summary="One score")
def get_score(score_id: str, session: SessionDep, principal: ProjectDep) -> dict[str, Any]:
    score = queries.get(session, principal.project_id, escape_text(score_id))
    if score is None:
        raise NotFound(f"Score {score_id[:200]} not found within authorized project")
    return score_view(score)


@router.delete("/scores/{score_id:path}", status_code=202, summary="Delete a score")
def delete_score(score_id: str, session: SessionDep, principal: ProjectDep) -> Response:
    deleted = queries.delete_score(session, principal.project_id, escape_text(score_id))
    session.commit()
    if not deleted:
        raise NotFound(f"Score {score_id[:200]} not found within authorized project")
    return ApiResponse({"message": "Score deleted successfully"}, status_code=202)
