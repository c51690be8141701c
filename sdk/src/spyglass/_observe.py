"""`@observe`: one observation per call of a function, method, coroutine or generator.

There is one wrapper per kind of function, chosen when decorating, so each keeps its kind
(`inspect.iscoroutinefunction`, `isgeneratorfunction` and `isasyncgenfunction` still hold for
the wrapper, which frameworks such as FastAPI rely on). The SDK's own work happens in `begin`,
`finish` and `fail`, which never raise; the wrapped function is called exactly once, outside any
SDK guard, and its exception propagates as the very same object.

A generator's observation lasts until the generator is exhausted, fails or is closed, and the
first item's time is recorded as `completionStartTime` (time to first token for a stream). Each
step of the generator runs with the observation as the current one, so calls made inside it nest.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, ParamSpec, TypeVar, overload

from spyglass import _guard
from spyglass._context import begin, checked_type, current, fail, finish
from spyglass._records import UNSET, Observation, ObservationType
from spyglass._serialize import MAX_ITEMS, TRUNCATED, snapshot

P = ParamSpec("P")
R = TypeVar("R")


class _Spec:
    __slots__ = ("name", "kind", "capture_input", "capture_output", "skip_first")

    def __init__(self, fn: Callable[..., Any], name: str | None, kind: str, ci: bool, co: bool):
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        self.kind = kind
        self.capture_input = ci
        self.capture_output = co
        # Methods: `self`/`cls` is not an input worth recording (and may be costly to capture).
        code = getattr(inspect.unwrap(fn), "__code__", None)
        self.skip_first = bool(
            code is not None and code.co_argcount and code.co_varnames[0] in ("self", "cls")
        )


@overload
def observe(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def observe(
    func: None = None,
    /,
    *,
    name: str | None = None,
    as_type: ObservationType = "span",
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def observe(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    as_type: ObservationType = "span",
    capture_input: bool = True,
    capture_output: bool = True,
) -> Any:
    """Record each call of the decorated function as an observation.

    Use it bare (`@observe`) or with options (`@observe(name="search", as_type="retriever")`).

    Arguments:
        name: the observation's name; the function's `__name__` by default.
        as_type: `span` (default), `generation`, `agent`, `tool`, `chain`, `retriever`,
            `embedding`, `evaluator`, `guardrail` or `event`.
        capture_input: record the arguments as `{"args": [...], "kwargs": {...}}` (without
            `self`/`cls`).
        capture_output: record the return value (for generators: the items, joined when they
            are all strings).

    Calls nest: an observed call made while another one runs becomes its child, across
    `await`, `asyncio.gather` and tasks (threads: see `bind_context`). The outermost call
    starts a new trace. An exception is recorded (level ERROR, its message as status) and
    re-raised unchanged. When the SDK is off or the trace is not sampled, the function is
    simply called.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        try:
            spec = _Spec(fn, name, checked_type(as_type), capture_input, capture_output)
            if inspect.isasyncgenfunction(fn):
                return _async_generator_wrapper(fn, spec)
            if inspect.iscoroutinefunction(fn):
                return _coroutine_wrapper(fn, spec)
            if inspect.isgeneratorfunction(fn):
                return _generator_wrapper(fn, spec)
            return _function_wrapper(fn, spec)
        except Exception as exc:  # an exotic callable: leave it undecorated rather than break
            _guard.internal_error(exc, f"decorating {fn!r}")
            return fn

    if func is not None:
        return decorate(func)
    return decorate


def _enter(spec: _Spec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Observation | None:
    obs = begin(spec.name, spec.kind)
    if obs is not None and spec.capture_input and obs.trace.sampled:
        try:
            obs.input = {
                "args": [snapshot(arg) for arg in (args[1:] if spec.skip_first else args)],
                "kwargs": {key: snapshot(arg) for key, arg in kwargs.items()} if kwargs else {},
            }
        except Exception as exc:  # pragma: no cover - snapshot() does not raise
            _guard.internal_error(exc, "capturing arguments")
    return obs


def _returned(obs: Observation, spec: _Spec, result: Any) -> None:
    try:
        if spec.capture_output and obs.output is UNSET and obs.trace.sampled:
            obs.output = snapshot(result)
        obs._end()
    except Exception as exc:
        _guard.internal_error(exc, "ending an observation")


def _function_wrapper(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        obs = _enter(spec, args, kwargs)
        if obs is None:
            return fn(*args, **kwargs)
        token = current.set(obs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            current.reset(token)
            fail(obs, exc)
            raise
        current.reset(token)
        _returned(obs, spec, result)
        return result

    return wrapper


def _coroutine_wrapper(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        obs = _enter(spec, args, kwargs)
        if obs is None:
            return await fn(*args, **kwargs)
        token = current.set(obs)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            current.reset(token)
            fail(obs, exc)
            raise
        current.reset(token)
        _returned(obs, spec, result)
        return result

    return wrapper


class _Stream:
    """The items of an observed generator, and its time to first item."""

    __slots__ = ("obs", "items", "count")

    def __init__(self, obs: Observation, spec: _Spec) -> None:
        self.obs = obs
        record = spec.capture_output and obs.trace.sampled
        self.items: list[Any] | None = [] if record else None
        self.count = 0

    def add(self, item: Any) -> None:
        try:
            if self.count == 0:
                self.obs.completion_start_ns = time.time_ns()
            self.count += 1
            items = self.items
            if items is not None and len(items) < MAX_ITEMS:
                items.append(snapshot(item))
        except Exception as exc:  # pragma: no cover
            _guard.internal_error(exc, "capturing a generator item")

    def end(self) -> None:
        obs = self.obs
        if obs.end_ns:
            return
        items = self.items
        if items is not None and obs.output is UNSET:
            if items and all(type(item) is str for item in items):
                output: Any = "".join(items)
            else:
                output = items
            if self.count > len(items):
                more = f"{TRUNCATED} {self.count - len(items)} more items]"
                output = output + more if isinstance(output, str) else [*output, more]
            obs.output = output
        finish(obs)


def _generator_wrapper(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        obs = _enter(spec, args, kwargs)
        if obs is None:
            return (yield from fn(*args, **kwargs))
        stream = _Stream(obs, spec)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            try:
                gen = fn(*args, **kwargs)
            except BaseException as exc:  # wrong arguments
                fail(obs, exc)
                raise
            while True:
                token = current.set(obs)
                try:
                    if thrown is None:
                        item = gen.send(sent)
                    else:
                        error, thrown = thrown, None
                        item = gen.throw(error)
                except StopIteration as stop:
                    return stop.value
                except BaseException as exc:
                    fail(obs, exc)
                    raise
                finally:
                    current.reset(token)
                stream.add(item)
                try:
                    sent = yield item
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:  # thrown in by the consumer: pass it on
                    thrown = exc
        finally:
            stream.end()

    return wrapper


def _async_generator_wrapper(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        obs = _enter(spec, args, kwargs)
        stream = None if obs is None else _Stream(obs, spec)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            try:
                agen = fn(*args, **kwargs)
            except BaseException as exc:  # wrong arguments
                if obs is not None:
                    fail(obs, exc)
                raise
            while True:
                token = None if obs is None else current.set(obs)
                try:
                    if thrown is None:
                        item = await agen.asend(sent)
                    else:
                        error, thrown = thrown, None
                        item = await agen.athrow(error)
                except StopAsyncIteration:
                    return
                except BaseException as exc:
                    if obs is not None:
                        fail(obs, exc)
                    raise
                finally:
                    if token is not None:
                        current.reset(token)
                if stream is not None:
                    stream.add(item)
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:
                    thrown = exc
        finally:
            if stream is not None:
                stream.end()

    return wrapper
