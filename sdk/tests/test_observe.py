"""`@observe` on functions, methods, coroutines and generators."""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

import pytest
from support import Sink, flushed

from spyglass import Spyglass, _ids, observe, update_current_observation
from spyglass._serialize import MAX_ITEMS, TRUNCATED


class TestFunctions:
    def test_bare_decorator_records_input_output_and_trace(
        self, client: Spyglass, sink: Sink
    ) -> None:
        @observe
        def add(a: int, b: int = 0) -> int:
            return a + b

        assert add(1, b=2) == 3
        flushed(client)
        span = sink.observation("add")
        assert span["type"] == "span"
        assert span["input"] == {"args": [1], "kwargs": {"b": 2}}
        assert span["output"] == 3
        assert "parentObservationId" not in span
        assert span["startTime"] <= span["endTime"]
        [trace] = sink.bodies("trace-create")
        assert trace["id"] == span["traceId"]
        assert (trace["name"], trace["input"], trace["output"]) == ("add", span["input"], 3)

    def test_options_name_type_and_capture_flags(self, client: Spyglass, sink: Sink) -> None:
        @observe(name="llm-call", as_type="generation", capture_input=False, capture_output=False)
        def call(secret: str) -> str:
            return secret.upper()

        assert call("s3cret") == "S3CRET"
        flushed(client)
        [event] = [e for e in sink.events if e["type"] != "trace-create"]
        assert event["type"] == "generation-create"
        assert event["body"]["name"] == "llm-call"
        assert "input" not in event["body"] and "output" not in event["body"]

    @pytest.mark.parametrize(
        "as_type",
        [
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
        ],
    )
    def test_every_type_has_its_create_event(
        self, client: Spyglass, sink: Sink, as_type: Any
    ) -> None:
        @observe(as_type=as_type)
        def step() -> None:
            pass

        step()
        flushed(client)
        [event] = [e for e in sink.events if e["type"] != "trace-create"]
        assert event["type"] == f"{as_type}-create"
        assert ("endTime" in event["body"]) is (as_type != "event")

    def test_unknown_type_records_a_span(self, client: Spyglass, sink: Sink) -> None:
        unknown: Any = "banana"

        @observe(as_type=unknown)
        def step() -> None:
            pass

        step()
        flushed(client)
        assert sink.observation("step")["type"] == "span"

    def test_nesting_follows_calls(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def leaf(x: int) -> int:
            return x

        @observe
        def middle(x: int) -> int:
            return leaf(x) + leaf(x)

        @observe
        def root() -> int:
            return middle(1)

        root()
        flushed(client)
        root_span, middle_span = sink.observation("root"), sink.observation("middle")
        leaves = [o for o in sink.observations() if o["name"] == "leaf"]
        assert middle_span["parentObservationId"] == root_span["id"]
        assert [o["parentObservationId"] for o in leaves] == [middle_span["id"]] * 2
        assert {o["traceId"] for o in sink.observations()} == {root_span["traceId"]}
        assert len(sink.bodies("trace-create")) == 1

    def test_methods_do_not_record_self(self, client: Spyglass, sink: Sink) -> None:
        class Agent:
            @observe
            def act(self, task: str) -> str:
                return task

            @classmethod
            @observe
            def build(cls, size: int) -> int:
                return size

        Agent().act("plan")
        Agent.build(3)
        flushed(client)
        assert sink.observation("act")["input"] == {"args": ["plan"], "kwargs": {}}
        assert sink.observation("build")["input"] == {"args": [3], "kwargs": {}}

    def test_arguments_mutated_after_the_call_keep_their_recorded_value(
        self, client: Spyglass, sink: Sink
    ) -> None:
        @observe
        def remember(messages: list[dict[str, str]]) -> list[dict[str, str]]:
            return messages

        history = [{"role": "user", "content": "hi"}]
        remember(history)
        history.append({"role": "assistant", "content": "later"})
        history[0]["content"] = "changed"
        flushed(client)
        recorded = sink.observation("remember")
        assert recorded["input"]["args"] == [[{"role": "user", "content": "hi"}]]
        assert recorded["output"] == [{"role": "user", "content": "hi"}]

    def test_update_current_observation_sets_generation_fields(
        self, client: Spyglass, sink: Sink
    ) -> None:
        @observe(as_type="generation")
        def complete(prompt: str) -> str:
            update_current_observation(
                model="gpt-4o-mini",
                model_parameters={"temperature": 0.2},
                usage_details={"input": 12, "output": 3},
                cost_details={"input": 0.001},
                metadata={"a": 1},
                output="overridden",
            )
            update_current_observation(metadata={"b": 2}, level="WARNING", version="v2")
            return "ignored because output was set"

        complete("hi")
        flushed(client)
        generation = sink.observation("complete")
        assert generation["model"] == "gpt-4o-mini"
        assert generation["modelParameters"] == {"temperature": 0.2}
        assert generation["usageDetails"] == {"input": 12, "output": 3}
        assert generation["costDetails"] == {"input": 0.001}
        assert generation["metadata"] == {"a": 1, "b": 2}
        assert generation["output"] == "overridden"
        assert (generation["level"], generation["version"]) == ("WARNING", "v2")

    def test_outside_any_observation_updates_do_nothing(self) -> None:
        update_current_observation(model="x")  # logged, not raised


def test_a_callable_that_cannot_be_inspected_is_left_undecorated(
    monkeypatch: pytest.MonkeyPatch, internal_errors: list[BaseException]
) -> None:
    def boom(fn: Any) -> Any:
        raise RuntimeError("cannot inspect")

    monkeypatch.setattr(inspect, "unwrap", boom)

    def plain() -> int:
        return 1

    assert observe(plain) is plain
    assert [str(e) for e in internal_errors] == ["cannot inspect"]
    internal_errors.clear()


class TestExceptions:
    def test_the_same_exception_is_reraised_and_recorded(
        self, client: Spyglass, sink: Sink
    ) -> None:
        error = ValueError("bad input")

        @observe
        def failing() -> None:
            raise error

        @observe
        def caller() -> None:
            failing()

        with pytest.raises(ValueError) as raised:
            caller()
        assert raised.value is error
        frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
        assert frames[-1] == "failing"
        assert raised.value.__cause__ is None and raised.value.__context__ is None
        flushed(client)
        for name in ("failing", "caller"):
            span = sink.observation(name)
            assert span["level"] == "ERROR"
            assert span["statusMessage"] == "ValueError: bad input"
            assert "output" not in span

    def test_interruptions_are_warnings(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def interrupted() -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            interrupted()
        flushed(client)
        span = sink.observation("interrupted")
        assert (span["level"], span["statusMessage"]) == ("WARNING", "KeyboardInterrupt")

    def test_wrong_arguments_raise_as_without_the_decorator(
        self, client: Spyglass, sink: Sink
    ) -> None:
        @observe
        def one(x: int) -> int:
            return x

        with pytest.raises(TypeError):
            one(1, 2)  # type: ignore[call-arg]

    def test_an_sdk_failure_never_reaches_the_function(
        self,
        client: Spyglass,
        sink: Sink,
        monkeypatch: pytest.MonkeyPatch,
        internal_errors: list[BaseException],
    ) -> None:
        def broken() -> str:
            raise RuntimeError("sdk bug")

        monkeypatch.setattr(_ids, "observation_id", broken)
        calls = []

        @observe
        def work() -> str:
            calls.append(1)
            return "done"

        assert work() == "done"
        assert calls == [1]
        assert [str(e) for e in internal_errors] == ["sdk bug"]
        internal_errors.clear()


class TestAsync:
    def test_coroutines_are_observed_and_stay_coroutines(
        self, client: Spyglass, sink: Sink
    ) -> None:
        @observe
        async def inner(x: int) -> int:
            await asyncio.sleep(0)
            return x * 2

        @observe
        async def outer() -> int:
            return await inner(2)

        assert inspect.iscoroutinefunction(outer)
        assert asyncio.run(outer()) == 4
        flushed(client)
        assert sink.observation("inner")["parentObservationId"] == sink.observation("outer")["id"]

    def test_async_exceptions_are_recorded_and_reraised(self, client: Spyglass, sink: Sink) -> None:
        error = LookupError("missing")

        @observe
        async def failing() -> None:
            raise error

        async def main() -> None:
            with pytest.raises(LookupError) as raised:
                await failing()
            assert raised.value is error

        asyncio.run(main())
        flushed(client)
        assert sink.observation("failing")["level"] == "ERROR"


class TestGenerators:
    def test_a_stream_ends_with_its_last_item(self, client: Spyglass, sink: Sink) -> None:
        @observe(as_type="generation")
        def stream(n: int) -> Iterator[str]:
            for i in range(n):
                yield f"tok{i} "

        assert inspect.isgeneratorfunction(stream)
        produced = stream(3)
        assert client.flush(1)
        assert sink.observations() == []  # not started: nothing to record yet
        assert list(produced) == ["tok0 ", "tok1 ", "tok2 "]
        flushed(client)
        generation = sink.observation("stream")
        assert generation["output"] == "tok0 tok1 tok2 "
        assert generation["startTime"] <= generation["completionStartTime"]
        assert generation["completionStartTime"] <= generation["endTime"]

    def test_non_text_items_are_recorded_as_a_list(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def numbers() -> Iterator[int]:
            yield from (1, 2)
            return None

        assert list(numbers()) == [1, 2]
        flushed(client)
        assert sink.observation("numbers")["output"] == [1, 2]

    def test_calls_inside_a_generator_nest_under_it(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def fetch(i: int) -> int:
            return i

        @observe
        def paged() -> Iterator[int]:
            for page in range(2):
                yield fetch(page)

        @observe
        def consume() -> list[int]:
            return list(paged())

        assert consume() == [0, 1]
        flushed(client)
        paged_span = sink.observation("paged")
        assert paged_span["parentObservationId"] == sink.observation("consume")["id"]
        fetches = [o for o in sink.observations() if o["name"] == "fetch"]
        assert [o["parentObservationId"] for o in fetches] == [paged_span["id"]] * 2

    def test_breaking_early_ends_the_observation(self, client: Spyglass, sink: Sink) -> None:
        closed = []

        @observe
        def endless() -> Iterator[int]:
            try:
                i = 0
                while True:
                    yield i
                    i += 1
            finally:
                closed.append(True)

        for item in endless():
            if item == 2:
                break
        assert closed == [True]
        flushed(client)
        span = sink.observation("endless")
        assert span["output"] == [0, 1, 2]
        assert "level" not in span

    def test_an_error_in_a_stream_is_recorded_and_reraised(
        self, client: Spyglass, sink: Sink
    ) -> None:
        error = RuntimeError("stream broke")

        @observe
        def flaky() -> Iterator[int]:
            yield 1
            raise error

        received = []
        with pytest.raises(RuntimeError) as raised:
            for item in flaky():
                received.append(item)
        assert raised.value is error and received == [1]
        flushed(client)
        span = sink.observation("flaky")
        assert (span["level"], span["statusMessage"]) == ("ERROR", "RuntimeError: stream broke")

    def test_send_throw_and_return_pass_through(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def echo() -> Generator[str, str, str]:
            received = yield "ready"
            while received != "stop":
                try:
                    received = yield f"got {received}"
                except KeyError:
                    received = yield "handled"
            return "finished"

        gen = echo()
        assert next(gen) == "ready"
        assert gen.send("a") == "got a"
        assert gen.throw(KeyError("k")) == "handled"
        with pytest.raises(StopIteration) as stop:
            gen.send("stop")
        assert stop.value.value == "finished"
        flushed(client)
        assert sink.observation("echo")["output"] == "readygot ahandled"

    def test_async_generators(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def tokenize(text: str) -> list[str]:
            return text.split()

        @observe(as_type="generation")
        async def stream(text: str) -> AsyncIterator[str]:
            for word in tokenize(text):
                await asyncio.sleep(0)
                yield word

        async def main() -> list[str]:
            return [word async for word in stream("a b c")]

        assert inspect.isasyncgenfunction(stream)
        assert asyncio.run(main()) == ["a", "b", "c"]
        flushed(client)
        generation = sink.observation("stream")
        assert generation["output"] == "abc"
        assert "completionStartTime" in generation
        assert sink.observation("tokenize")["parentObservationId"] == generation["id"]

    def test_long_streams_keep_the_first_items(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def long_stream() -> Iterator[str]:
            yield from ("x" for _ in range(MAX_ITEMS + 3))

        assert sum(1 for _ in long_stream()) == MAX_ITEMS + 3
        flushed(client)
        output = sink.observation("long_stream")["output"]
        assert output == "x" * MAX_ITEMS + f"{TRUNCATED} 3 more items]"

    def test_async_generators_pass_asend_and_athrow_through(
        self, client: Spyglass, sink: Sink
    ) -> None:
        @observe
        async def echo() -> AsyncGenerator[str, str]:
            received = yield "ready"
            try:
                yield f"got {received}"
            except KeyError:
                yield "handled"

        async def main() -> list[str]:
            agen = echo()
            items = [await agen.__anext__(), await agen.asend("a")]
            items.append(await agen.athrow(KeyError("k")))
            await agen.aclose()
            return items

        assert asyncio.run(main()) == ["ready", "got a", "handled"]
        flushed(client)
        assert sink.observation("echo")["output"] == "readygot ahandled"

    def test_async_generator_closed_early_and_failing(self, client: Spyglass, sink: Sink) -> None:
        error = ValueError("async stream broke")

        @observe
        async def ticks() -> AsyncGenerator[int, None]:
            for i in range(10):
                yield i

        @observe
        async def broken() -> AsyncIterator[int]:
            yield 1
            raise error

        async def main() -> None:
            agen = ticks()
            assert await agen.__anext__() == 0
            await agen.aclose()
            with pytest.raises(ValueError) as raised:
                async for _ in broken():
                    pass
            assert raised.value is error

        asyncio.run(main())
        flushed(client)
        assert sink.observation("ticks")["output"] == [0]
        assert sink.observation("broken")["level"] == "ERROR"


class TestWhenOff:
    def test_disabled_client_just_calls_the_function(self) -> None:
        Spyglass(enabled=False)
        calls = []

        @observe
        def work(x: int) -> int:
            calls.append(x)
            return x

        @observe
        def stream() -> Iterator[int]:
            yield 1

        @observe
        async def coro() -> int:
            return 2

        assert work(5) == 5 and calls == [5]
        assert list(stream()) == [1]
        assert asyncio.run(coro()) == 2
