from __future__ import annotations

from pydantic import BaseModel, Field


class DeleteTraces(BaseModel):
    traceIds: list[str] = Field(min_length=1, max_length=1000)


class Message(BaseModel):
    message: str
