"""Keyword-only builders of Langfuse ingestion events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def event(
    type_: str, body: dict[str, Any], *, at: datetime = T0, event_id: str | None = None
) -> dict[str, Any]:
    return {"id": event_id or new_id(), "type": type_, "timestamp": iso(at), "body": body}


def trace_event(trace_id: str, *, at: datetime = T0, **fields: Any) -> dict[str, Any]:
    return event("trace-create", {"id": trace_id, **fields}, at=at)


def span_event(
    obs_id: str,
    trace_id: str,
    *,
    type_: str = "span-create",
    at: datetime = T0,
    start: datetime = T0,
    seconds: float = 1.0,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "id": obs_id,
        "traceId": trace_id,
        "startTime": iso(start),
        "endTime": iso(start + timedelta(seconds=seconds)),
    }
    body.update(fields)
    return event(type_, body, at=at)


def generation_event(obs_id: str, trace_id: str, **fields: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "name": "llm-call",
        "model": "gpt-4o-mini",
        "modelParameters": {"temperature": 0.2},
        "usageDetails": {"input": 120, "output": 30},
        "input": [{"role": "user", "content": "hi"}],
        "output": {"role": "assistant", "content": "hello"},
    }
    defaults.update(fields)
    return span_event(obs_id, trace_id, type_="generation-create", **defaults)


def score_event(score_id: str, *, trace_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": score_id, "name": "quality", "value": 0.9}
    if trace_id:
        body["traceId"] = trace_id
    body.update(fields)
    return event("score-create", body)
