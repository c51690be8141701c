from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from server.deps import StateDep
from server.errors import BadRequest, Unavailable
from server.ingest.body import read_body
from server.ingest.langfuse import EventError, parse_event
from server.ingest.records import Kind, Record
from server.ingest.sanitize import InvalidJSON, parse_json
from server.ingest.schemas import (
    IngestionBatch,
    IngestionResponse,
    ScoreCreated,
    ScoresAccepted,
    ScoresPartiallyAccepted,
)
from server.ingest.scores import ScoreBody, score_record
from server.ingest.store import store_records
from server.projects.auth import AnyKeyDep, IngestionKeyDep
from server.responses import ApiResponse

router = APIRouter(prefix="/api/public", tags=["ingestion"])

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": IngestionBatch.model_json_schema()}},
    }
}


async def _json_body(request: Request, state: StateDep) -> Any:
    raw = await read_body(request, state.settings.max_body_bytes)
    try:
        return parse_json(raw)
    except InvalidJSON as exc:
        raise BadRequest([{"message": f"body is not valid JSON: {exc}"}]) from None


@router.post(
    "/ingestion",
    status_code=207,
    response_model=IngestionResponse,
    openapi_extra=_BODY_DOC,
    summary="Langfuse batch ingestion: traces, observations and scores, one result per event",
)
async def ingest_batch(request: Request, state: StateDep, principal: IngestionKeyDep) -> Any:
    payload = await _json_body(request, state)
    batch = payload.get("batch") if isinstance(payload, dict) else None
    if not isinstance(batch, list):
        raise BadRequest([{"path": ["batch"], "message": "expected an array of events"}])
    successes: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    records: list[Record] = []
    for raw_event in batch:
        event_id = _event_id(raw_event)
        try:
            event_records = parse_event(raw_event, principal.project_id)
        except EventError as exc:
            errors.append(
                {"id": event_id, "status": exc.status, "message": exc.message, "error": exc.error}
            )
            continue
        if not principal.full_access and not _scores_only(event_records):
            errors.append({"id": event_id, "status": 401, "message": "Access Scope Denied"})
            continue
        records.extend(event_records)
        if event_records:  # sdk-log events are logged and appear in neither list
            successes.append({"id": event_id, "status": 201})
    failures = await store_records(state, records)
    if failures:
        successes = [s for s in successes if s["id"] not in failures]
        errors.extend(
            {"id": event_id, "status": 500, "message": "Internal Server Error", "error": reason}
            for event_id, reason in failures.items()
        )
    return ApiResponse({"successes": successes, "errors": errors}, status_code=207)


def _event_id(raw_event: Any) -> str:
    if isinstance(raw_event, dict) and isinstance(raw_event.get("id"), str) and raw_event["id"]:
        return str(raw_event["id"])[:800]
    return "unknown"


def _scores_only(records: list[Record]) -> bool:
    return all(r.kind is Kind.SCORE for r in records)


@router.post(
    "/scores",
    response_model=ScoreCreated | ScoresAccepted | ScoresPartiallyAccepted,
    summary="Create one score (answers {id}) or an array of scores (202, or 207 when some fail)",
)
async def create_scores(request: Request, state: StateDep, principal: AnyKeyDep) -> Any:
    payload = await _json_body(request, state)
    now = datetime.now(UTC)
    if isinstance(payload, dict):
        record = _score(payload, principal.project_id, now)
        if isinstance(record, str):
            raise BadRequest([{"message": record}])
        if await store_records(state, [record]):
            raise Unavailable("the score could not be stored; retry")
        return ApiResponse({"id": record.id}, status_code=200)
    if not isinstance(payload, list):
        raise BadRequest([{"message": "expected a score object or an array of scores"}])
    records: list[Record] = []
    rejections: list[str] = []
    for item in payload:
        outcome = _score(item, principal.project_id, now)
        if isinstance(outcome, str):
            rejections.append(outcome)
        else:
            records.append(outcome)
    failures = await store_records(state, records)
    rejections.extend(f"score {event_id!r} {reason}" for event_id, reason in failures.items())
    if not rejections:
        return ApiResponse({"message": "Accepted"}, status_code=202)
    accepted = len(records) - len(failures)
    return ApiResponse(
        {
            "accepted": accepted,
            "rejected": len(rejections),
            "errors": [{"message": m} for m in rejections],
        },
        status_code=207,
    )


def _score(raw: Any, project_id: str, now: datetime) -> Record | str:
    """A score record, or the reason it was rejected."""
    try:
        body = ScoreBody.model_validate(raw)
        score_id = body.id or str(uuid.uuid4())
        return score_record(body, score_id, now, project_id, default_id=score_id)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"invalid score: {where}: {first['msg']}"
    except ValueError as exc:
        return f"invalid score: {exc}"
