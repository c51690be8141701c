"""The current observation, carried by a `ContextVar`, and the functions that act on it.

`contextvars` gives each asyncio task a copy of its creator's context, so observations nest
correctly across `await`, `asyncio.gather` and `asyncio.create_task` with no extra work, and
`asyncio.to_thread` carries the context too. Plain threads and `executor.submit` start from an
empty context; `bind_context(fn)` carries the current one over.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from spyglass import _client, _guard, _ids
from spyglass._records import (
    OBSERVATION_TYPES,
    UNSET,
    Level,
    Observation,
    ObservationType,
    ScoreRecord,
    Trace,
    trace_fields,
)
from spyglass._serialize import snapshot

P = ParamSpec("P")
R = TypeVar("R")

current: contextvars.ContextVar[Observation | None] = contextvars.ContextVar(
    "spyglass_observation", default=None
)

# An observation that records nothing: handed out when the SDK is off or the trace unsampled.
_UNSAMPLED = Trace("", None, False)  # type: ignore[arg-type]


def begin(name: str, kind: str) -> Observation | None:
    """Start an observation under the current one (or a new trace). Never raises.

    None means "record nothing and leave the context alone": the SDK is off, the current trace
    is not sampled, or something went wrong. An unsampled *root* is returned, so that the
    context remembers the decision for everything nested under it.
    """
    try:
        parent = current.get()
        if parent is not None:
            trace = parent.trace
            if not trace.sampled:
                return None
            return Observation(trace, parent.id, _ids.observation_id(), name, kind, time.time_ns())
        client = _client._active or _client.get_client()
        if not client.enabled:
            return None
        rate = client.sample_rate
        trace = Trace(_ids.trace_id(), client, rate >= 1.0 or _ids.chance() < rate)
        return Observation(trace, None, _ids.observation_id(), name, kind, time.time_ns())
    except Exception as exc:
        _guard.internal_error(exc, "starting an observation")
        return None


def finish(obs: Observation) -> None:
    try:
        obs._end()
    except Exception as exc:
        _guard.internal_error(exc, "ending an observation")


def fail(obs: Observation, exc: BaseException) -> None:
    try:
        obs._fail(exc)
        obs._end()
    except Exception as error:
        _guard.internal_error(error, "recording an exception")


def checked_type(as_type: str) -> str:
    if as_type in OBSERVATION_TYPES:
        return as_type
    _guard.problem("as_type", f"unknown observation type {as_type!r}; recording a span")
    return "span"


def current_trace_id() -> str | None:
    """Id of the trace being recorded here, or None outside any observation."""
    obs = current.get()
    return None if obs is None else obs.trace_id


def current_observation_id() -> str | None:
    """Id of the innermost observation being recorded here, or None."""
    obs = current.get()
    return None if obs is None else obs.id


def update_current_observation(
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
    """Set fields of the innermost observation; see `Observation.update` for each argument.

    For a generation: `model`, `model_parameters`, `usage_details`, `cost_details`, and
    `prompt` (from `get_prompt`, links the generation to that prompt version). Outside any
    observation this does nothing (and says so in the log).
    """
    obs = current.get()
    if obs is None:
        _guard.problem("no-observation", "update_current_observation() outside any observation")
        return
    try:
        obs.update(
            name=name,
            input=input,
            output=output,
            metadata=metadata,
            level=level,
            status_message=status_message,
            model=model,
            model_parameters=model_parameters,
            usage_details=usage_details,
            cost_details=cost_details,
            completion_start_time=completion_start_time,
            version=version,
            prompt=prompt,
        )
    except Exception as exc:
        _guard.internal_error(exc, "update_current_observation")


def update_current_trace(
    *,
    name: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    tags: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    release: str | None = None,
    version: str | None = None,
    input: Any = UNSET,
    output: Any = UNSET,
    public: bool | None = None,
) -> None:
    """Set fields of the current trace. Arguments left out keep their value.

    `metadata` is merged and `tags` are added to what was set before. By default a trace takes
    its name, input and output from its root observation.
    """
    obs = current.get()
    if obs is None:
        _guard.problem("no-observation", "update_current_trace() outside any observation")
        return
    try:
        obs.trace.update(
            trace_fields(
                name=name,
                user_id=user_id,
                session_id=session_id,
                tags=tags,
                metadata=metadata,
                release=release,
                version=version,
                input=input,
                output=output,
                public=public,
            )
        )
    except Exception as exc:
        _guard.internal_error(exc, "update_current_trace")


def score(
    name: str,
    value: float | str | bool,
    *,
    trace_id: str | None = None,
    observation_id: str | None = None,
    data_type: str | None = None,
    comment: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    score_id: str | None = None,
) -> str | None:
    """Record a score on a trace (the current one by default) or on one of its observations.

    `value` is a number (NUMERIC), a string (CATEGORICAL) or a bool (BOOLEAN, sent as 1/0);
    `data_type` overrides the guess (`NUMERIC`, `CATEGORICAL`, `BOOLEAN`, `TEXT`). Pass
    `observation_id=current_observation_id()` to score the innermost observation. Returns the
    score's id (reuse it as `score_id` to overwrite the score), or None when nothing was
    recorded: no trace to attach it to, the SDK is off, or the current trace is not sampled.
    """
    try:
        obs = current.get()
        if trace_id is None:
            if obs is None:
                _guard.problem("no-observation", "score() outside any trace and without trace_id")
                return None
            trace_id = obs.trace_id
        if obs is not None and obs.trace_id == trace_id:
            if not obs.trace.sampled:
                return None
            client = obs.trace.client
        else:
            client = _client.get_client()
        if not client.enabled:
            return None
        return _submit_score(
            client, name, value, trace_id, observation_id, data_type, comment, metadata, score_id
        )
    except Exception as exc:
        _guard.internal_error(exc, "score")
        return None


def _submit_score(
    client: _client.Spyglass,
    name: str,
    value: float | str | bool,
    trace_id: str,
    observation_id: str | None,
    data_type: str | None,
    comment: str | None,
    metadata: Mapping[str, Any] | None,
    score_id: str | None,
) -> str:
    if isinstance(value, bool):
        value, data_type = (1 if value else 0), (data_type or "BOOLEAN")
    score_id = score_id or _ids.event_id()
    body: dict[str, Any] = {"id": score_id, "traceId": trace_id, "name": name, "value": value}
    if observation_id is not None:
        body["observationId"] = observation_id
    if data_type is not None:
        body["dataType"] = data_type.upper()
    if comment is not None:
        body["comment"] = str(comment)
    if metadata is not None:
        body["metadata"] = snapshot(dict(metadata))
    client._submit(ScoreRecord(score_id, body))
    return score_id


def bind_context(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, bound to the current context, for threads and executors.

    `executor.submit(bind_context(work), item)` and `threading.Thread(target=bind_context(work))`
    make what `work` records nest under the current observation. The returned callable can run
    many times, even at once: each call runs in its own copy of the captured context.
    (`asyncio.to_thread` already carries the context; `loop.run_in_executor` does not.)
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(fn, *args, **kwargs)

    return bound


class ObservationScope:
    """What `start_observation` returns: a (sync or async) context manager."""

    __slots__ = ("_name", "_kind", "_fields", "_obs", "_token")

    def __init__(self, name: str, kind: str, fields: dict[str, Any]) -> None:
        self._name = name
        self._kind = kind
        self._fields = fields
        self._obs: Observation | None = None
        self._token: contextvars.Token[Observation | None] | None = None

    def __enter__(self) -> Observation:
        obs = begin(self._name, self._kind)
        if obs is None:
            return Observation(_UNSAMPLED, None, "", self._name, self._kind, 0)
        if self._fields:
            try:
                obs.update(**self._fields)
            except Exception as exc:
                _guard.internal_error(exc, "start_observation")
        self._obs = obs
        self._token = current.set(obs)
        return obs

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        obs, token = self._obs, self._token
        if obs is None or token is None:
            return
        self._obs = self._token = None
        try:
            current.reset(token)
        except ValueError:
            # Entered in another context: a `with` block around a `yield`, resumed elsewhere.
            current.set(token.old_value if token.old_value is not token.MISSING else None)
        if exc is not None:
            fail(obs, exc)
        else:
            finish(obs)

    async def __aenter__(self) -> Observation:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def start_observation(
    name: str,
    *,
    as_type: ObservationType = "span",
    input: Any = UNSET,
    metadata: Mapping[str, Any] | None = None,
    model: str | None = None,
    model_parameters: Mapping[str, Any] | None = None,
    level: Level | None = None,
    version: str | None = None,
    prompt: Any = None,
) -> ObservationScope:
    """An observation around a block of code, for what is not a function.

        with start_observation("retrieve", as_type="retriever", input=query) as obs:
            docs = index.search(query)
            obs.update(output=docs)

    `prompt` (from `get_prompt`) links a generation to that prompt version.
    Works with `async with` too. Nested `@observe` calls and observations become its children.
    An exception leaving the block is recorded (level ERROR) and propagates unchanged.
    """
    fields: dict[str, Any] = {}
    if input is not UNSET:
        fields["input"] = input
    for key, value in (
        ("metadata", metadata),
        ("model", model),
        ("model_parameters", model_parameters),
        ("level", level),
        ("version", version),
        ("prompt", prompt),
    ):
        if value is not None:
            fields[key] = value
    return ObservationScope(str(name), checked_type(as_type), fields)
