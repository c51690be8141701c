"""Langfuse batch ingestion events (`POST /api/public/ingestion`) turned into records.

Each event is validated on its own, so one bad event becomes one error entry and its
neighbours are stored.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from server.ingest.environment import normalise_environment
from server.ingest.records import Kind, Record
from server.ingest.scores import ScoreBody, score_record
from server.ingest.usage import cost_details, legacy_usage, usage_details, with_total

log = logging.getLogger("spyglass.ingest")

EntityId = Annotated[str, StringConstraints(min_length=1, max_length=800)]
Level = Literal["DEBUG", "DEFAULT", "WARNING", "ERROR"]

# Event type → (observation type, is it a create?)
OBSERVATION_EVENTS: dict[str, tuple[str, bool]] = {
    "span-create": ("SPAN", True),
    "span-update": ("SPAN", False),
    "generation-create": ("GENERATION", True),
    "generation-update": ("GENERATION", False),
    "event-create": ("EVENT", True),
    "agent-create": ("AGENT", True),
    "tool-create": ("TOOL", True),
    "chain-create": ("CHAIN", True),
    "retriever-create": ("RETRIEVER", True),
    "evaluator-create": ("EVALUATOR", True),
    "embedding-create": ("EMBEDDING", True),
    "guardrail-create": ("GUARDRAIL", True),
}
LEGACY_OBSERVATION_EVENTS = {"observation-create": True, "observation-update": False}


class EventError(Exception):
    def __init__(self, status: int, message: str, error: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Envelope(_Body):
    id: Annotated[str, StringConstraints(min_length=1, max_length=800, pattern=r"^[^\r]*$")]
    type: str
    timestamp: datetime
    body: dict[str, Any]


class TraceBody(_Body):
    id: EntityId | None = None
    timestamp: datetime | None = None
    name: Annotated[str, StringConstraints(max_length=1000)] | None = None
    externalId: str | None = None
    input: Any = None
    output: Any = None
    sessionId: str | None = None
    userId: str | None = None
    environment: str | None = None
    metadata: Any = None
    release: str | None = None
    version: str | None = None
    public: bool | None = None
    tags: list[str] | None = None


class ObservationBody(_Body):
    id: EntityId | None = None
    traceId: EntityId | None = None
    type: Literal["SPAN", "GENERATION", "EVENT"] | None = None
    environment: str | None = None
    name: str | None = None
    startTime: datetime | None = None
    endTime: datetime | None = None
    completionStartTime: datetime | None = None
    metadata: Any = None
    input: Any = None
    output: Any = None
    level: Level | None = None
    statusMessage: str | None = None
    parentObservationId: EntityId | None = None
    version: str | None = None
    model: str | None = None
    modelParameters: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    usageDetails: dict[str, Any] | None = None
    costDetails: dict[str, Any] | None = None
    promptName: str | None = None
    promptVersion: int | None = None

    @model_validator(mode="after")
    def _prompt_link_is_whole(self) -> ObservationBody:
        if (self.promptName is None) != (self.promptVersion is None):
            raise ValueError("promptName and promptVersion must be set together")
        return self


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_event(raw: Any, project_id: str) -> list[Record]:
    """One wire event → its records ([] for sdk-log). Raises EventError."""
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise EventError(400, "Invalid request data", _issues(exc)) from None
    event_time = _aware(envelope.timestamp)
    try:
        return _records(envelope, event_time, project_id)
    except ValidationError as exc:
        raise EventError(400, "Invalid request data", _issues(exc)) from None
    except ValueError as exc:
        raise EventError(400, "Invalid request data", str(exc)) from None


def _records(envelope: Envelope, event_time: datetime, project_id: str) -> list[Record]:
    kind = envelope.type
    if kind == "trace-create":
        return [
            _trace_record(TraceBody.model_validate(envelope.body), envelope, event_time, project_id)
        ]
    if kind in OBSERVATION_EVENTS:
        obs_type, is_create = OBSERVATION_EVENTS[kind]
        body = ObservationBody.model_validate(envelope.body)
        return _observation_records(body, obs_type, is_create, envelope, event_time, project_id)
    if kind in LEGACY_OBSERVATION_EVENTS:
        body = ObservationBody.model_validate(envelope.body)
        if body.type is None:
            raise ValueError("legacy observation events need body.type (SPAN, GENERATION or EVENT)")
        is_create = LEGACY_OBSERVATION_EVENTS[kind]
        return _observation_records(body, body.type, is_create, envelope, event_time, project_id)
    if kind == "score-create":
        body_score = ScoreBody.model_validate(envelope.body)
        return [
            score_record(body_score, envelope.id, event_time, project_id, default_id=envelope.id)
        ]
    if kind == "sdk-log":
        log.info("sdk-log event %s: %.500r", envelope.id, envelope.body.get("log"))
        return []
    raise ValueError(f"unknown event type {kind[:100]!r}")


def _set(fields: dict[str, Any], column: str, value: Any) -> None:
    if value is not None:
        fields[column] = value


def _trace_record(
    body: TraceBody, envelope: Envelope, event_time: datetime, project_id: str
) -> Record:
    fields: dict[str, Any] = {}
    fields["timestamp"] = _aware(body.timestamp) if body.timestamp else event_time
    _set(fields, "name", body.name)
    _set(fields, "external_id", body.externalId)
    _set(fields, "session_id", body.sessionId)
    _set(fields, "user_id", body.userId)
    _set(fields, "release", body.release)
    _set(fields, "version", body.version)
    _set(fields, "public", body.public)
    _set(fields, "tags", body.tags)
    _set(fields, "metadata", body.metadata)
    if body.environment is not None:
        fields["environment"] = normalise_environment(body.environment)
    if body.input is not None:
        fields["input"] = _json_text(body.input)
    if body.output is not None:
        fields["output"] = _json_text(body.output)
    # A trace without an id would be lost; the event's own id is stable across re-sends.
    trace_id = body.id or envelope.id
    return Record(Kind.TRACE, project_id, trace_id, event_time, envelope.id, fields)


def _observation_records(
    body: ObservationBody,
    obs_type: str,
    is_create: bool,
    envelope: Envelope,
    event_time: datetime,
    project_id: str,
) -> list[Record]:
    obs_id = body.id or envelope.id
    fields: dict[str, Any] = {"type": obs_type}
    _set(fields, "trace_id", body.traceId)
    _set(fields, "parent_observation_id", body.parentObservationId)
    _set(fields, "name", body.name)
    if body.startTime is not None:
        fields["start_time"] = _aware(body.startTime)
    elif is_create:
        fields["start_time"] = event_time
    _set(fields, "end_time", body.endTime and _aware(body.endTime))
    _set(
        fields,
        "completion_start_time",
        body.completionStartTime and _aware(body.completionStartTime),
    )
    _set(fields, "metadata", body.metadata)
    _set(fields, "level", body.level)
    _set(fields, "status_message", body.statusMessage)
    _set(fields, "version", body.version)
    _set(fields, "model", body.model)
    _set(fields, "prompt_name", body.promptName)
    _set(fields, "prompt_version", body.promptVersion)
    if body.modelParameters:
        fields["model_parameters"] = body.modelParameters
    if body.environment is not None:
        fields["environment"] = normalise_environment(body.environment)
    if body.input is not None:
        fields["input"] = _json_text(body.input)
    if body.output is not None:
        fields["output"] = _json_text(body.output)
    _usage_fields(body, fields)
    records = [
        Record(Kind.OBSERVATION, project_id, obs_id, event_time, envelope.id, fields, is_create)
    ]
    if body.traceId is None and is_create:
        # Pre-2.0 SDKs send observations without a trace; Langfuse wraps each in a trace of
        # its own. The observation's id keeps that trace stable when the event is re-sent.
        fields["trace_id"] = obs_id
        wrapper = {"name": body.name} if body.name else {}
        records.insert(0, Record(Kind.TRACE, project_id, obs_id, event_time, envelope.id, wrapper))
    return records


def _usage_fields(body: ObservationBody, fields: dict[str, Any]) -> None:
    usage, cost, unit = legacy_usage(body.usage)
    usage = {**usage, **usage_details(body.usageDetails)}
    cost = {**cost, **cost_details(body.costDetails)}
    if usage:
        fields["usage_details"] = with_total(usage)
    if cost:
        fields["cost_details"] = cost
    _set(fields, "usage_unit", unit)


def _issues(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"path": list(e["loc"]), "message": e["msg"], "code": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
