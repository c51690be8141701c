"""Records to Langfuse ingestion events, on the transport's thread.

Each record becomes one event `{"id", "type", "timestamp", "body"}` of the batch ingestion API, as
compact JSON bytes. This is where the `mask` function runs, so no unmasked input, output or metadata
ever reaches the network. An observation is sent once, when it ends, as a single `*-create` event
that carries everything (the newer types such as `tool-create` have no `*-update` event anyway).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from spyglass import _guard, _ids
from spyglass._records import UNSET, Observation, ScoreRecord, TraceRecord
from spyglass._serialize import TRUNCATED, dumps

MAX_EVENT_BYTES = 1_000_000
"""An event over this size has its input, output and metadata replaced by a marker."""

MASK_FAILED = "<masking failed>"
"""Stands in for a value whose `mask` call raised: unmasked data is never sent."""

_LARGE_FIELDS = ("input", "output", "metadata")


def iso(ns: int) -> str:
    """`2024-05-01T12:00:00.123456Z` from nanoseconds since the epoch."""
    seconds, rest = divmod(ns, 1_000_000_000)
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        t.tm_year,
        t.tm_mon,
        t.tm_mday,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        rest // 1000,
    )


class EventEncoder:
    """Turns records into event bytes with a client's environment, release and mask."""

    def __init__(
        self,
        *,
        environment: str | None,
        release: str | None,
        mask: Callable[[Any], Any] | None,
    ) -> None:
        self._environment = environment
        self._release = release
        self._mask = mask

    def __call__(self, record: object) -> bytes:
        kind = type(record)
        if kind is Observation:
            assert isinstance(record, Observation)
            event_type, body, ns = f"{record.type}-create", self._observation(record), record.end_ns
        elif kind is TraceRecord:
            assert isinstance(record, TraceRecord)
            event_type, body, ns = "trace-create", self._trace(record), record.timestamp_ns
        elif kind is ScoreRecord:
            assert isinstance(record, ScoreRecord)
            event_type, body, ns = "score-create", self._score(record), record.timestamp_ns
        else:
            raise TypeError(f"not a record: {kind.__name__}")
        event = {"id": _ids.event_id(), "type": event_type, "timestamp": iso(ns), "body": body}
        data = dumps(event)
        if len(data) > MAX_EVENT_BYTES:
            data = _shrunk(event, len(data))
        return data

    def _masked(self, value: Any) -> Any:
        mask = self._mask
        if mask is None:
            return value
        try:
            return mask(value)
        except Exception as exc:
            _guard.internal_error(exc, "the mask function")
            return MASK_FAILED

    def _observation(self, obs: Observation) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": obs.id,
            "traceId": obs.trace_id,
            "name": obs.name,
            "startTime": iso(obs.start_ns),
        }
        if obs.type != "event":
            body["endTime"] = iso(obs.end_ns)
        if obs.parent_id is not None:
            body["parentObservationId"] = obs.parent_id
        if obs.completion_start_ns:
            body["completionStartTime"] = iso(obs.completion_start_ns)
        if obs.input is not UNSET:
            body["input"] = self._masked(obs.input)
        if obs.output is not UNSET:
            body["output"] = self._masked(obs.output)
        if obs.metadata is not None:
            body["metadata"] = self._masked(obs.metadata)
        for key, value in (
            ("level", obs.level),
            ("statusMessage", obs.status_message),
            ("model", obs.model),
            ("modelParameters", obs.model_parameters),
            ("usageDetails", obs.usage_details),
            ("costDetails", obs.cost_details),
            ("version", obs.version),
            ("environment", self._environment),
        ):
            if value is not None:
                body[key] = value
        return body

    def _trace(self, record: TraceRecord) -> dict[str, Any]:
        body: dict[str, Any] = {"id": record.id, "timestamp": iso(record.timestamp_ns)}
        if self._environment is not None:
            body["environment"] = self._environment
        if self._release is not None:
            body["release"] = self._release
        for key, value in record.fields.items():
            body[key] = self._masked(value) if key in _LARGE_FIELDS else value
        return body

    def _score(self, record: ScoreRecord) -> dict[str, Any]:
        body = dict(record.body)
        if self._environment is not None:
            body["environment"] = self._environment
        for key in ("comment", "metadata"):
            if key in body:
                body[key] = self._masked(body[key])
        return body


def _shrunk(event: dict[str, Any], size: int) -> bytes:
    body = dict(event["body"])
    for key in _LARGE_FIELDS:
        if key in body:
            body[key] = f"{TRUNCATED}: the event was {size} bytes, over {MAX_EVENT_BYTES}]"
    return dumps({**event, "body": body})
