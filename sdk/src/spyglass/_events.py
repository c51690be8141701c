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
from spyglass._records import OBSERVATION_TYPES, UNSET, Observation, ScoreRecord, Trace, TraceRecord
from spyglass._serialize import TRUNCATED, dumps

MASK_FAILED = "<masking failed>"
"""Stands in for a value whose `mask` call raised: unmasked data is never sent."""

_LARGE_FIELDS = ("input", "output", "metadata")
_last_second: tuple[int, str] = (-1, "")


def iso(ns: int) -> str:
    """`2024-05-01T12:00:00.123456Z` from nanoseconds since the epoch."""
    global _last_second
    seconds, rest = divmod(ns, 1_000_000_000)
    cached, text = _last_second  # one tuple, so that two sender threads cannot mix its halves
    if seconds != cached:  # most events of a batch share their second: format it once
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second = (seconds, text)
    return "%s.%06dZ" % (text, rest // 1000)


_CREATE = {kind: f"{kind}-create" for kind in OBSERVATION_TYPES}


def _event(event_type: str, timestamp: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": _ids.event_id(), "type": event_type, "timestamp": timestamp, "body": body}


def _root_defaults(fields: dict[str, Any], root: Observation) -> dict[str, Any]:
    """A trace takes its name, input and output from its root unless they were set."""
    merged = {"name": root.name}
    if root.input is not UNSET:
        merged["input"] = root.input
    if root.output is not UNSET:
        merged["output"] = root.output
    merged.update(fields)
    return merged


def encode_batch(events: list[dict[str, Any]]) -> bytes:
    """The body of one ingestion request."""
    return dumps({"batch": events})


def shrunk(event: dict[str, Any], size: int) -> dict[str, Any]:
    """`event` with its input, output and metadata replaced by a marker: it was `size` bytes."""
    body = dict(event["body"])
    for key in _LARGE_FIELDS:
        if key in body:
            body[key] = f"{TRUNCATED}: the event was {size} bytes]"
    return {**event, "body": body}


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

    def __call__(self, record: object) -> dict[str, Any]:
        kind = type(record)
        if kind is Observation:
            assert isinstance(record, Observation)
            body = self._observation(record)
            return _event(
                _CREATE[record.type],
                body["endTime"] if "endTime" in body else body["startTime"],
                body,
            )
        if kind is Trace:
            assert isinstance(record, Trace) and record.root is not None
            root = record.root
            body = self._trace(record.id, root.start_ns, _root_defaults(record.fields, root))
        elif kind is TraceRecord:
            assert isinstance(record, TraceRecord)
            body = self._trace(record.id, record.timestamp_ns, record.fields)
        elif kind is ScoreRecord:
            assert isinstance(record, ScoreRecord)
            return _event("score-create", iso(record.timestamp_ns), self._score(record))
        else:
            raise TypeError(f"not a record: {kind.__name__}")
        return _event("trace-create", body["timestamp"], body)

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
        masked = self._mask is not None
        if obs.input is not UNSET:
            body["input"] = self._masked(obs.input) if masked else obs.input
        if obs.output is not UNSET:
            body["output"] = self._masked(obs.output) if masked else obs.output
        if obs.metadata is not None:
            body["metadata"] = self._masked(obs.metadata) if masked else obs.metadata
        if obs.level is not None:
            body["level"] = obs.level
        if obs.status_message is not None:
            body["statusMessage"] = obs.status_message
        if obs.model is not None:
            body["model"] = obs.model
        if obs.model_parameters is not None:
            body["modelParameters"] = obs.model_parameters
        if obs.usage_details is not None:
            body["usageDetails"] = obs.usage_details
        if obs.cost_details is not None:
            body["costDetails"] = obs.cost_details
        if obs.version is not None:
            body["version"] = obs.version
        if obs.prompt_name is not None and obs.type == "generation":
            body["promptName"] = obs.prompt_name
            body["promptVersion"] = obs.prompt_version
        if self._environment is not None:
            body["environment"] = self._environment
        return body

    def _trace(self, trace_id: str, ns: int, fields: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"id": trace_id, "timestamp": iso(ns)}
        if self._environment is not None:
            body["environment"] = self._environment
        if self._release is not None:
            body["release"] = self._release
        for key, value in list(fields.items()):
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
