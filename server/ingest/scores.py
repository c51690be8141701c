"""Score bodies, shared by `score-create` events and `POST /api/public/scores`."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from server.ingest.environment import normalise_environment
from server.ingest.records import Kind, Record

DataType = Literal["NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT", "CORRECTION"]


class ScoreBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, StringConstraints(min_length=1, max_length=800)] | None = None
    name: Annotated[str, StringConstraints(min_length=1)]
    value: float | str
    dataType: DataType | None = None
    traceId: str | None = None
    observationId: str | None = None
    sessionId: str | None = None
    datasetRunId: str | None = None
    environment: str | None = None
    comment: str | None = None
    metadata: Any = None
    source: Literal["API", "EVAL", "ANNOTATION"] | None = None
    queueId: str | None = None
    configId: str | None = None
    timestamp: datetime | None = None


def score_values(body: ScoreBody) -> tuple[str, float, str | None]:
    """(data type, numeric value, string value), checked against the data type."""
    value = body.value
    data_type = body.dataType or ("NUMERIC" if isinstance(value, float) else "CATEGORICAL")
    if data_type == "NUMERIC":
        if not isinstance(value, float) or not math.isfinite(value):
            raise ValueError("a NUMERIC score needs a finite number as value")
        return data_type, value, None
    if data_type == "BOOLEAN":
        if value not in (0.0, 1.0) or isinstance(value, str):
            raise ValueError("a BOOLEAN score needs 0 or 1 as value")
        return data_type, float(value), "True" if value == 1.0 else "False"
    if not isinstance(value, str):
        raise ValueError(f"a {data_type} score needs a string as value")
    if data_type == "TEXT" and not 1 <= len(value) <= 500:
        raise ValueError("a TEXT score needs 1 to 500 characters")
    if data_type == "CORRECTION" and body.configId:
        raise ValueError("a CORRECTION score cannot have a configId")
    return data_type, 0.0, value


def score_record(
    body: ScoreBody, event_id: str, event_time: datetime, project_id: str, *, default_id: str
) -> Record:
    if body.observationId and not body.traceId:
        raise ValueError("a score on an observation needs its traceId")
    data_type, value, string_value = score_values(body)
    timestamp = body.timestamp or event_time
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    fields: dict[str, Any] = {
        "name": body.name,
        "value": value,
        "string_value": string_value,
        "data_type": data_type,
        "source": body.source or "API",
        "timestamp": timestamp.astimezone(UTC),
        "environment": normalise_environment(body.environment),
    }
    optional = {
        "trace_id": body.traceId,
        "observation_id": body.observationId,
        "session_id": body.sessionId,
        "dataset_run_id": body.datasetRunId,
        "comment": body.comment,
        "metadata": body.metadata,
        "queue_id": body.queueId,
        "config_id": body.configId,
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    return Record(Kind.SCORE, project_id, body.id or default_id, event_time, event_id, fields)
