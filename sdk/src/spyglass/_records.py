"""What the caller's thread records: observations, traces and scores, before any JSON exists.

An `Observation` is filled in while its function runs and handed to the transport when it ends;
from then on only the transport's thread reads it. A `Trace` holds what is shared by every
observation of one trace: its id, its client, whether it was sampled, and the trace-level fields
set through `update_current_trace`. The transport turns these records into wire events
(`_events.py`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from spyglass import _guard
from spyglass._serialize import snapshot

if TYPE_CHECKING:
    from spyglass._client import Spyglass

ObservationType = Literal[
    "span",
    "generation",
    "agent",
    "tool",
    "chain",
    "retriever",
    "embedding",
    "evaluator",
    "guardrail",
    "event",
]
Level = Literal["DEBUG", "DEFAULT", "WARNING", "ERROR"]

OBSERVATION_TYPES: frozenset[str] = frozenset(ObservationType.__args__)  # type: ignore[attr-defined]
LEVELS: frozenset[str] = frozenset(Level.__args__)  # type: ignore[attr-defined]


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""Marks an argument that was not passed, where `None` is a value one may want to record."""


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


class Trace:
    """State shared by the observations of one trace."""

    __slots__ = ("id", "client", "sampled", "fields", "closed", "root")

    def __init__(self, trace_id: str, client: Spyglass, sampled: bool) -> None:
        self.id = trace_id
        self.client = client
        self.sampled = sampled
        self.fields: dict[str, Any] = {}
        self.closed = False
        self.root: Observation | None = None

    def update(self, fields: dict[str, Any]) -> None:
        if not self.sampled or not fields:
            return
        if self.closed:
            # The root ended and the trace event left with it: send the change on its own. The
            # server merges it into the stored trace (metadata merged, tags added).
            self.client._submit(TraceRecord(self.id, time.time_ns(), fields))
            return
        known = self.fields
        if "metadata" in fields:
            fields["metadata"] = {**(known.get("metadata") or {}), **fields["metadata"]}
        if "tags" in fields:
            fields["tags"] = sorted(set(known.get("tags") or ()) | set(fields["tags"]))
        known.update(fields)


class TraceRecord:
    """A trace-create event made by `update_current_trace` after the root ended."""

    __slots__ = ("id", "timestamp_ns", "fields")

    def __init__(self, trace_id: str, timestamp_ns: int, fields: dict[str, Any]) -> None:
        self.id = trace_id
        self.timestamp_ns = timestamp_ns
        self.fields = fields


class ScoreRecord:
    """A score-create event waiting for the transport."""

    __slots__ = ("id", "timestamp_ns", "body")

    def __init__(self, score_id: str, body: dict[str, Any]) -> None:
        self.id = score_id
        self.timestamp_ns = time.time_ns()
        self.body = body


class Observation:
    """One span, generation, tool call, … of a trace, as recorded so far.

    `start_observation(...)` yields one; `@observe` keeps one for each call. Its `id` and
    `trace_id` are what `score(...)` and the server's read API take. Change it with `update(...)`
    while it runs; updates after it ended are ignored.
    """

    __slots__ = (
        "id",
        "trace_id",
        "parent_id",
        "name",
        "type",
        "trace",
        "start_ns",
        "end_ns",
        "completion_start_ns",
        "input",
        "output",
        "metadata",
        "level",
        "status_message",
        "model",
        "model_parameters",
        "usage_details",
        "cost_details",
        "version",
        "prompt_name",
        "prompt_version",
    )

    def __init__(
        self,
        trace: Trace,
        parent_id: str | None,
        observation_id: str,
        name: str,
        kind: str,
        start_ns: int,
    ) -> None:
        self.id = observation_id
        self.trace_id = trace.id
        self.parent_id = parent_id
        self.name = name
        self.type = kind
        self.trace = trace
        self.start_ns = start_ns
        self.end_ns = 0
        self.completion_start_ns = 0
        self.input: Any = UNSET
        self.output: Any = UNSET
        self.metadata: dict[str, Any] | None = None
        self.level: str | None = None
        self.status_message: str | None = None
        self.model: str | None = None
        self.model_parameters: Any = None
        self.usage_details: Any = None
        self.cost_details: Any = None
        self.version: str | None = None
        self.prompt_name: str | None = None
        self.prompt_version: int | None = None

    def __repr__(self) -> str:
        return f"<Observation {self.type} {self.name!r} id={self.id} trace_id={self.trace_id}>"

    def update(
        self,
        *,
        name: str | None = None,
        input: Any = UNSET,
        output: Any = UNSET,
        metadata: Mapping[str, Any] | None = None,
        level: Level | None = None,
        status_message: str | None = None,
        model: str | None = None,
        model_parameters: Mapping[str, Any] | None = None,
        usage_details: Mapping[str, Any] | None = None,
        cost_details: Mapping[str, float] | None = None,
        completion_start_time: datetime | None = None,
        version: str | None = None,
        prompt: Any = None,
    ) -> None:
        """Set fields of this observation. Arguments left out keep their value.

        `input`/`output` replace what `@observe` would capture (pass `None` to record nothing).
        `metadata` is merged into the metadata set so far. `usage_details` takes token counts,
        flat (`{"input": 10, "output": 25}`) or as OpenAI's `usage` object;
        `cost_details` takes USD amounts (`{"input": 0.001, "output": 0.002}`).
        `prompt` (from `get_prompt`) links a generation to that prompt version; a fallback
        prompt is not linked.
        """
        if self.end_ns or not self.trace.sampled:
            if self.end_ns:
                _guard.problem("late-update", f"update of ended observation {self.name!r} ignored")
            return
        if name is not None:
            self.name = str(name)
        if input is not UNSET:
            self.input = snapshot(input)
        if output is not UNSET:
            self.output = snapshot(output)
        if metadata is not None:
            merged = self.metadata if self.metadata is not None else {}
            merged.update(snapshot(dict(metadata)))
            self.metadata = merged
        if level is not None:
            self.level = level if level in LEVELS else "DEFAULT"
        if status_message is not None:
            self.status_message = str(status_message)
        if model is not None:
            self.model = str(model)
        if model_parameters is not None:
            self.model_parameters = snapshot(model_parameters)
        if usage_details is not None:
            self.usage_details = snapshot(usage_details)
        if cost_details is not None:
            self.cost_details = snapshot(cost_details)
        if completion_start_time is not None:
            self.completion_start_ns = _ns(completion_start_time)
        if version is not None:
            self.version = str(version)
        if prompt is not None and not getattr(prompt, "is_fallback", False):
            prompt_name, prompt_version = (
                getattr(prompt, "name", None),
                getattr(prompt, "version", None),
            )
            if isinstance(prompt_name, str) and isinstance(prompt_version, int):
                self.prompt_name, self.prompt_version = prompt_name, prompt_version

    def _fail(self, exc: BaseException) -> None:
        """Record the exception that ends this observation (the caller re-raises it)."""
        if isinstance(exc, Exception):
            self.level = "ERROR"
        elif self.level is None:
            # Cancellation, KeyboardInterrupt, GeneratorExit: an interruption, not a failure.
            self.level = "WARNING"
        try:
            message = str(exc)
        except Exception:
            message = ""
        name = type(exc).__name__
        self.status_message = f"{name}: {message}" if message else name

    def _end(self) -> None:
        """Stamp the end time and hand the observation (and, for a root, its trace) over."""
        trace = self.trace
        if self.end_ns or not trace.sampled:
            return
        self.end_ns = time.time_ns()
        client = trace.client
        client._submit(self)
        if self.parent_id is None:
            # The trace event goes with its root; the sender reads `fields` and the root's
            # name, input and output. Later trace updates travel as TraceRecords of their own.
            trace.root = self
            trace.closed = True
            client._submit(trace)


def trace_fields(
    *,
    name: str | None,
    user_id: str | None,
    session_id: str | None,
    tags: Sequence[str] | None,
    metadata: Mapping[str, Any] | None,
    release: str | None,
    version: str | None,
    input: Any,
    output: Any,
    public: bool | None,
) -> dict[str, Any]:
    """The wire fields of an `update_current_trace` call, with values snapshotted."""
    fields: dict[str, Any] = {}
    for key, value in (
        ("name", name),
        ("userId", user_id),
        ("sessionId", session_id),
        ("release", release),
        ("version", version),
    ):
        if value is not None:
            fields[key] = str(value)
    if tags is not None:
        fields["tags"] = [str(tag) for tag in tags]
    if metadata is not None:
        fields["metadata"] = snapshot(dict(metadata))
    if input is not UNSET:
        fields["input"] = snapshot(input)
    if output is not UNSET:
        fields["output"] = snapshot(output)
    if public is not None:
        fields["public"] = bool(public)
    return fields
