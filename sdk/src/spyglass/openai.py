"""Drop-in OpenAI clients that record chat completions and responses as Spyglass generations.

    from spyglass.openai import OpenAI   # instead of `from openai import OpenAI`

    client = OpenAI()
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])

`OpenAI` and `AsyncOpenAI` are subclasses of the `openai` package's clients; only
`chat.completions.create` and `responses.create` (sync, async, `stream=True`) are changed.
Each call becomes a `generation` observation, nested under the current observation (an
`@observe` function or a `start_observation` block) or else the root of a new trace. It records
the model (the one the response names, else the requested one), the model parameters (the
request's other arguments), the messages (Responses API: `input`, after `instructions` as a
system message) as input, the assistant message (Responses API: `output_text`) as output, token
usage, and, for a stream, the time of the first chunk (Responses API: first text delta). An API
error is recorded (level ERROR) and re-raised unchanged.

Recording never breaks the call: whatever goes wrong inside the SDK is logged and swallowed.
Requires `openai>=1.40` (`pip install "spyglass[openai]"`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from functools import cached_property
from types import TracebackType
from typing import Any

import openai as _openai
from openai._types import NotGiven as _NotGiven
from openai.resources.chat import AsyncChat as _AsyncChat
from openai.resources.chat import Chat as _Chat
from openai.resources.chat.completions import AsyncCompletions as _AsyncCompletions
from openai.resources.chat.completions import Completions as _Completions
from openai.resources.responses import AsyncResponses as _AsyncResponses
from openai.resources.responses import Responses as _Responses

from spyglass import _context, _guard
from spyglass._records import Observation

try:  # `Omit` is newer than `NotGiven`
    from openai._types import Omit as _Omit

    _SENTINELS: tuple[type, ...] = (_NotGiven, _Omit)
except ImportError:  # pragma: no cover
    _SENTINELS = (_NotGiven,)

__all__ = ["AsyncOpenAI", "OpenAI", "response_usage_details", "usage_details"]

GENERATION_NAME = "OpenAI-generation"

# Request arguments that are not model parameters.
_NOT_PARAMETERS = frozenset(
    {
        "messages",
        "model",
        "stream",
        "stream_options",
        "extra_headers",
        "extra_query",
        "extra_body",
        "timeout",
        "tools",
        "functions",
        "metadata",
    }
)


def _given(value: Any) -> bool:
    return not isinstance(value, _SENTINELS)


# ---------------------------------------------------------------------------------------------
# Building the record


def _start(kwargs: dict[str, Any]) -> Observation | None:
    """Begin the generation for a `create(**kwargs)` call. Never raises."""
    obs = _context.begin(GENERATION_NAME, "generation")
    if obs is None:
        return None
    try:
        parameters = {
            key: value
            for key, value in kwargs.items()
            if key not in _NOT_PARAMETERS and _given(value)
        }
        metadata: dict[str, Any] = {
            key: kwargs[key]
            for key in ("tools", "functions", "metadata")
            if key in kwargs and _given(kwargs[key])
        }
        model = kwargs.get("model")
        obs.update(
            input=kwargs.get("messages"),
            model=model if isinstance(model, str) else None,
            model_parameters=parameters or None,
            metadata=metadata or None,
        )
    except Exception as exc:
        _guard.internal_error(exc, "recording an OpenAI request")
    return obs


def usage_details(usage: Any) -> dict[str, int] | None:
    """OpenAI's `usage` in the usageDetails key style; cached/reasoning tokens not counted twice."""
    if usage is None:
        return None

    def number(source: Any, key: str) -> int | None:
        value = source.get(key) if isinstance(source, dict) else getattr(source, key, None)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    prompt = number(usage, "prompt_tokens")
    completion = number(usage, "completion_tokens")
    total = number(usage, "total_tokens")
    prompt_details = (
        usage.get("prompt_tokens_details")
        if isinstance(usage, dict)
        else getattr(usage, "prompt_tokens_details", None)
    )
    completion_details = (
        usage.get("completion_tokens_details")
        if isinstance(usage, dict)
        else getattr(usage, "completion_tokens_details", None)
    )
    cached = number(prompt_details, "cached_tokens") if prompt_details is not None else None
    reasoning = (
        number(completion_details, "reasoning_tokens") if completion_details is not None else None
    )
    details: dict[str, int] = {}
    if prompt is not None:
        details["input"] = max(prompt - (cached or 0), 0)
    if completion is not None:
        details["output"] = max(completion - (reasoning or 0), 0)
    if total is not None:
        details["total"] = total
    if cached:
        details["input_cached_tokens"] = cached
    if reasoning:
        details["output_reasoning_tokens"] = reasoning
    return details or None


def _message(message: Any) -> Any:
    dump = getattr(message, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)
    return message


def _record_response(obs: Observation, response: Any) -> None:
    """Fill in a generation from a ChatCompletion (anything else, e.g. a raw response: nothing)."""
    try:
        choices = getattr(response, "choices", None)
        if choices is None:
            return
        messages = [_message(getattr(choice, "message", None)) for choice in choices]
        model = getattr(response, "model", None)
        obs.update(
            model=model if isinstance(model, str) and model else None,
            output=messages[0] if len(messages) == 1 else messages,
            usage_details=usage_details(getattr(response, "usage", None)),
        )
    except Exception as exc:
        _guard.internal_error(exc, "recording an OpenAI response")


class _Accumulator:
    """Collects a streamed completion, chunk by chunk, into the message it spells out."""

    __slots__ = ("obs", "injected_usage", "model", "usage", "choices", "done")

    def __init__(self, obs: Observation, injected_usage: bool) -> None:
        self.obs = obs
        self.injected_usage = injected_usage
        self.model: str | None = None
        self.usage: Any = None
        self.choices: dict[int, dict[str, Any]] = {}
        self.done = False

    def add(self, chunk: Any) -> bool:
        """Take in one chunk; False when the chunk is ours alone (the usage we asked for)."""
        try:
            if not self.obs.completion_start_ns:
                self.obs.completion_start_ns = time.time_ns()
            model = getattr(chunk, "model", None)
            if isinstance(model, str) and model:
                self.model = model
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self.usage = usage
            choices = getattr(chunk, "choices", None) or []
            for choice in choices:
                self._add_choice(choice)
            if self.injected_usage and usage is not None and not choices:
                return False
        except Exception as exc:
            _guard.internal_error(exc, "recording an OpenAI stream chunk")
        return True

    def _add_choice(self, choice: Any) -> None:
        index = getattr(choice, "index", 0) or 0
        message = self.choices.setdefault(index, {"role": "assistant"})
        delta = getattr(choice, "delta", None)
        if delta is None:
            return
        role = getattr(delta, "role", None)
        if role:
            message["role"] = role
        content = getattr(delta, "content", None)
        if content:
            message["content"] = message.get("content", "") + content
        refusal = getattr(delta, "refusal", None)
        if refusal:
            message["refusal"] = message.get("refusal", "") + refusal
        for call in getattr(delta, "tool_calls", None) or []:
            calls: dict[int, dict[str, Any]] = message.setdefault("_calls", {})
            entry = calls.setdefault(
                getattr(call, "index", 0) or 0,
                {"type": "function", "function": {"name": "", "arguments": ""}},
            )
            if getattr(call, "id", None):
                entry["id"] = call.id
            function = getattr(call, "function", None)
            if function is not None:
                if getattr(function, "name", None):
                    entry["function"]["name"] += function.name
                if getattr(function, "arguments", None):
                    entry["function"]["arguments"] += function.arguments

    def finish(self, exc: BaseException | None = None) -> None:
        """Record what came and end the generation (once)."""
        if self.done:
            return
        self.done = True
        obs = self.obs
        try:
            messages = []
            for index in sorted(self.choices):
                message = dict(self.choices[index])
                calls = message.pop("_calls", None)
                if calls:
                    message["tool_calls"] = [calls[i] for i in sorted(calls)]
                messages.append(message)
            obs.update(
                model=self.model,
                output=(messages[0] if len(messages) == 1 else messages) if messages else None,
                usage_details=usage_details(self.usage),
            )
        except Exception as error:
            _guard.internal_error(error, "recording an OpenAI stream")
        if exc is None:
            _context.finish(obs)
        else:
            _context.fail(obs, exc)


# ---------------------------------------------------------------------------------------------
# The Responses API

# Request arguments of `responses.create` that are not model parameters.
_NOT_RESPONSE_PARAMETERS = frozenset(
    {
        "input",
        "instructions",
        "model",
        "stream",
        "stream_options",
        "extra_headers",
        "extra_query",
        "extra_body",
        "timeout",
        "tools",
        "metadata",
    }
)


def _start_response(kwargs: dict[str, Any]) -> Observation | None:
    """Begin the generation for a `responses.create(**kwargs)` call. Never raises."""
    obs = _context.begin(GENERATION_NAME, "generation")
    if obs is None:
        return None
    try:
        parameters = {
            key: value
            for key, value in kwargs.items()
            if key not in _NOT_RESPONSE_PARAMETERS and _given(value)
        }
        metadata: dict[str, Any] = {
            key: kwargs[key]
            for key in ("tools", "metadata")
            if key in kwargs and _given(kwargs[key])
        }
        given_input = kwargs.get("input")
        recorded_input: Any = given_input if _given(given_input) else None
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str) and instructions:
            if isinstance(recorded_input, str):
                rest: list[Any] = [{"role": "user", "content": recorded_input}]
            elif isinstance(recorded_input, list):
                rest = list(recorded_input)
            else:
                rest = []
            recorded_input = [{"role": "system", "content": instructions}, *rest]
        model = kwargs.get("model")
        obs.update(
            input=recorded_input,
            model=model if isinstance(model, str) else None,
            model_parameters=parameters or None,
            metadata=metadata or None,
        )
    except Exception as exc:
        _guard.internal_error(exc, "recording an OpenAI Responses request")
    return obs


def response_usage_details(usage: Any) -> dict[str, int] | None:
    """The Responses API's `usage` (input/output tokens) in the usageDetails key style."""
    if usage is None:
        return None

    def field(source: Any, key: str) -> Any:
        return source.get(key) if isinstance(source, dict) else getattr(source, key, None)

    return usage_details(
        {
            "prompt_tokens": field(usage, "input_tokens"),
            "completion_tokens": field(usage, "output_tokens"),
            "total_tokens": field(usage, "total_tokens"),
            "prompt_tokens_details": field(usage, "input_tokens_details"),
            "completion_tokens_details": field(usage, "output_tokens_details"),
        }
    )


def _response_output(response: Any) -> Any:
    """`output_text` when the response has text, else its output items."""
    text = getattr(response, "output_text", None)
    if isinstance(text, str) and text:
        return text
    output = getattr(response, "output", None)
    if isinstance(output, list):
        return [_message(item) for item in output]
    return None


def _record_responses_response(obs: Observation, response: Any) -> None:
    """Fill in a generation from a `Response` (anything else, e.g. a raw response: nothing)."""
    try:
        if getattr(response, "object", None) != "response":
            return
        model = getattr(response, "model", None)
        obs.update(
            model=model if isinstance(model, str) and model else None,
            output=_response_output(response),
            usage_details=response_usage_details(getattr(response, "usage", None)),
        )
    except Exception as exc:
        _guard.internal_error(exc, "recording an OpenAI Responses response")


class _ResponsesAccumulator:
    """Collects a streamed Responses call, event by event."""

    __slots__ = ("obs", "text", "response", "done")

    def __init__(self, obs: Observation) -> None:
        self.obs = obs
        self.text: list[str] = []
        self.response: Any = None
        self.done = False

    def add(self, event: Any) -> bool:
        try:
            kind = getattr(event, "type", None)
            if kind == "response.output_text.delta":
                if not self.obs.completion_start_ns:
                    self.obs.completion_start_ns = time.time_ns()
                delta = getattr(event, "delta", None)
                if isinstance(delta, str):
                    self.text.append(delta)
            elif kind in ("response.completed", "response.incomplete", "response.failed"):
                self.response = getattr(event, "response", None)
        except Exception as exc:
            _guard.internal_error(exc, "recording an OpenAI Responses stream event")
        return True

    def finish(self, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        obs = self.obs
        try:
            response = self.response
            output = _response_output(response) if response is not None else None
            if output is None and self.text:
                output = "".join(self.text)
            model = getattr(response, "model", None)
            obs.update(
                model=model if isinstance(model, str) and model else None,
                output=output,
                usage_details=response_usage_details(getattr(response, "usage", None)),
            )
        except Exception as error:
            _guard.internal_error(error, "recording an OpenAI Responses stream")
        if exc is None:
            _context.finish(obs)
        else:
            _context.fail(obs, exc)


# ---------------------------------------------------------------------------------------------
# Streams


class RecordedStream:
    """Wraps the `openai.Stream` of a `create(stream=True)` call; iterate it as usual.

    The generation is recorded when the stream is exhausted, closed, or left (`with`); anything
    not found here is looked up on the wrapped stream.
    """

    def __init__(self, stream: Any, accumulator: _Accumulator | _ResponsesAccumulator) -> None:
        self._stream = stream
        self._accumulator = accumulator
        self._iterator = self._chunks()

    def _chunks(self) -> Iterator[Any]:
        try:
            for chunk in self._stream:
                if self._accumulator.add(chunk):
                    yield chunk
        except GeneratorExit:  # the wrapper was dropped before the end: keep what came
            self._accumulator.finish()
            raise
        except BaseException as exc:
            self._accumulator.finish(exc)
            raise
        self._accumulator.finish()

    def __iter__(self) -> Iterator[Any]:
        return self._iterator

    def __next__(self) -> Any:
        return next(self._iterator)

    def __enter__(self) -> RecordedStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._accumulator.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class AsyncRecordedStream:
    """The async counterpart of `RecordedStream`, around an `openai.AsyncStream`."""

    def __init__(self, stream: Any, accumulator: _Accumulator | _ResponsesAccumulator) -> None:
        self._stream = stream
        self._accumulator = accumulator
        self._iterator = self._chunks()

    async def _chunks(self) -> AsyncIterator[Any]:
        try:
            async for chunk in self._stream:
                if self._accumulator.add(chunk):
                    yield chunk
        except GeneratorExit:  # the wrapper was dropped before the end: keep what came
            self._accumulator.finish()
            raise
        except BaseException as exc:
            self._accumulator.finish(exc)
            raise
        self._accumulator.finish()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterator

    async def __anext__(self) -> Any:
        return await self._iterator.__anext__()

    async def __aenter__(self) -> AsyncRecordedStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self._stream.close()
        finally:
            self._accumulator.finish()

    async def aclose(self) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _prepare_stream(kwargs: dict[str, Any]) -> bool:
    """Ask for usage on a stream unless the caller chose stream options; True if we asked."""
    try:
        options = kwargs.get("stream_options", _openai.NOT_GIVEN)
        if kwargs.get("stream") is True and (options is None or not _given(options)):
            kwargs["stream_options"] = {"include_usage": True}
            return True
    except Exception as exc:
        _guard.internal_error(exc, "preparing an OpenAI stream")
    return False


# ---------------------------------------------------------------------------------------------
# The clients


class Completions(_Completions):
    """`chat.completions` whose `create` is recorded."""

    def create(self, *args: Any, **kwargs: Any) -> Any:
        obs = _start(kwargs)
        if obs is None:
            return super().create(*args, **kwargs)
        injected = _prepare_stream(kwargs)
        try:
            response = super().create(*args, **kwargs)
        except BaseException as exc:
            _context.fail(obs, exc)
            raise
        if kwargs.get("stream") is True and isinstance(response, _openai.Stream):
            return RecordedStream(response, _Accumulator(obs, injected))
        _record_response(obs, response)
        _context.finish(obs)
        return response


class AsyncCompletions(_AsyncCompletions):
    """`chat.completions` of the async client, whose `create` is recorded."""

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        obs = _start(kwargs)
        if obs is None:
            return await super().create(*args, **kwargs)
        injected = _prepare_stream(kwargs)
        try:
            response = await super().create(*args, **kwargs)
        except BaseException as exc:
            _context.fail(obs, exc)
            raise
        if kwargs.get("stream") is True and isinstance(response, _openai.AsyncStream):
            return AsyncRecordedStream(response, _Accumulator(obs, injected))
        _record_response(obs, response)
        _context.finish(obs)
        return response


class Responses(_Responses):
    """`responses` whose `create` is recorded."""

    def create(self, *args: Any, **kwargs: Any) -> Any:
        obs = _start_response(kwargs)
        if obs is None:
            return super().create(*args, **kwargs)
        try:
            response = super().create(*args, **kwargs)
        except BaseException as exc:
            _context.fail(obs, exc)
            raise
        if kwargs.get("stream") is True and isinstance(response, _openai.Stream):
            return RecordedStream(response, _ResponsesAccumulator(obs))
        _record_responses_response(obs, response)
        _context.finish(obs)
        return response


class AsyncResponses(_AsyncResponses):
    """`responses` of the async client, whose `create` is recorded."""

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        obs = _start_response(kwargs)
        if obs is None:
            return await super().create(*args, **kwargs)
        try:
            response = await super().create(*args, **kwargs)
        except BaseException as exc:
            _context.fail(obs, exc)
            raise
        if kwargs.get("stream") is True and isinstance(response, _openai.AsyncStream):
            return AsyncRecordedStream(response, _ResponsesAccumulator(obs))
        _record_responses_response(obs, response)
        _context.finish(obs)
        return response


class Chat(_Chat):
    @cached_property
    def completions(self) -> Completions:
        return Completions(self._client)


class AsyncChat(_AsyncChat):
    @cached_property
    def completions(self) -> AsyncCompletions:
        return AsyncCompletions(self._client)


class OpenAI(_openai.OpenAI):
    """`openai.OpenAI`, with `chat.completions.create` and `responses.create` recorded."""

    @cached_property
    def chat(self) -> Chat:
        return Chat(self)

    @cached_property
    def responses(self) -> Responses:
        return Responses(self)


class AsyncOpenAI(_openai.AsyncOpenAI):
    """`openai.AsyncOpenAI`, with `chat.completions.create` and `responses.create` recorded."""

    @cached_property
    def chat(self) -> AsyncChat:
        return AsyncChat(self)

    @cached_property
    def responses(self) -> AsyncResponses:
        return AsyncResponses(self)
