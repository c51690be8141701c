from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class IngestionEvent(BaseModel):
    id: str = Field(
        description="Unique id of this event; re-sent events with the same body id update one entity."
    )
    type: str = Field(description="trace-create, span-create, generation-update, score-create, …")
    timestamp: str = Field(description="ISO-8601 time of the event, with Z or an offset.")
    body: dict[str, Any]
    metadata: Any = None


class IngestionBatch(BaseModel):
    batch: list[IngestionEvent]
    metadata: Any = None


class IngestionSuccess(BaseModel):
    id: str
    status: int


class IngestionError(BaseModel):
    id: str
    status: int
    message: str | None = None
    error: Any = None


class IngestionResponse(BaseModel):
    successes: list[IngestionSuccess]
    errors: list[IngestionError]


class ScoreCreated(BaseModel):
    id: str


class ScoresAccepted(BaseModel):
    message: str = "Accepted"


class ScoreRejection(BaseModel):
    message: str


class ScoresPartiallyAccepted(BaseModel):
    accepted: int
    rejected: int
    errors: list[ScoreRejection]
