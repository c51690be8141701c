"""Nesting across asyncio tasks and threads; the functions that act on the current observation."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from support import Sink, flushed

from spyglass import (
    Spyglass,
    bind_context,
    current_observation_id,
    current_trace_id,
    observe,
    score,
    start_observation,
    update_current_trace,
)


class TestAsyncio:
    def test_gather_keeps_each_task_under_its_parent(self, client: Spyglass, sink: Sink) -> None:
        @observe
        async def leaf(i: int) -> int:
            await asyncio.sleep(0.001 * (i % 3))
            return i

        @observe
        async def branch(i: int) -> list[int]:
            return list(await asyncio.gather(leaf(i * 10), leaf(i * 10 + 1)))

        @observe
        async def root() -> list[list[int]]:
            return list(await asyncio.gather(*(branch(i) for i in range(20))))

        asyncio.run(root())
        flushed(client)
        by_id = {o["id"]: o for o in sink.observations()}
        root_span = sink.observation("root")
        branches = [o for o in by_id.values() if o["name"] == "branch"]
        assert len(branches) == 20
        assert all(b["parentObservationId"] == root_span["id"] for b in branches)
        for leaf_span in (o for o in by_id.values() if o["name"] == "leaf"):
            parent = by_id[leaf_span["parentObservationId"]]
            assert parent["input"]["args"][0] * 10 <= leaf_span["input"]["args"][0]
            assert leaf_span["input"]["args"][0] <= parent["input"]["args"][0] * 10 + 1
        assert {o["traceId"] for o in by_id.values()} == {root_span["traceId"]}

    def test_concurrent_roots_are_separate_traces(self, client: Spyglass, sink: Sink) -> None:
        @observe
        async def child() -> str | None:
            await asyncio.sleep(0)
            return current_trace_id()

        @observe
        async def request(i: int) -> tuple[str | None, str | None]:
            return current_trace_id(), await child()

        async def main() -> list[tuple[str | None, str | None]]:
            return list(await asyncio.gather(*(request(i) for i in range(30))))

        results = asyncio.run(main())
        assert all(outer == inner for outer, inner in results)
        assert len({outer for outer, _ in results}) == 30
        flushed(client)
        assert len(sink.bodies("trace-create")) == 30

    def test_to_thread_carries_the_context(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def blocking() -> str:
            return threading.current_thread().name

        @observe
        async def root() -> str:
            return await asyncio.to_thread(blocking)

        assert asyncio.run(root()) != threading.current_thread().name
        flushed(client)
        assert sink.observation("blocking")["parentObservationId"] == sink.observation("root")["id"]


class TestThreads:
    def test_threads_record_their_own_traces(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def leaf() -> None:
            pass

        @observe
        def worker(i: int) -> None:
            for _ in range(10):
                leaf()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        flushed(client)
        workers = {o["id"]: o for o in sink.observations() if o["name"] == "worker"}
        assert len(workers) == 8 and len({w["traceId"] for w in workers.values()}) == 8
        leaves = [o for o in sink.observations() if o["name"] == "leaf"]
        assert len(leaves) == 80
        for leaf_span in leaves:
            assert workers[leaf_span["parentObservationId"]]["traceId"] == leaf_span["traceId"]

    def test_a_plain_thread_starts_a_new_trace(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def background() -> None:
            pass

        @observe
        def root() -> None:
            thread = threading.Thread(target=background)
            thread.start()
            thread.join()

        root()
        flushed(client)
        assert "parentObservationId" not in sink.observation("background")

    def test_bind_context_nests_executor_work(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def fetch(i: int) -> int:
            return i * i

        @observe
        def root() -> list[int]:
            with ThreadPoolExecutor(4) as pool:
                # One bound callable used by many threads at once.
                squares = list(pool.map(bind_context(fetch), range(12)))
                squares.append(pool.submit(bind_context(fetch), 5).result())
            thread = threading.Thread(target=bind_context(fetch), args=(7,))
            thread.start()
            thread.join()
            return squares

        assert root() == [i * i for i in range(12)] + [25]
        flushed(client)
        fetches = [o for o in sink.observations() if o["name"] == "fetch"]
        assert len(fetches) == 14
        assert {f["parentObservationId"] for f in fetches} == {sink.observation("root")["id"]}


class TestStartObservation:
    def test_a_block_becomes_a_child_observation(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def handler() -> None:
            with start_observation(
                "retrieve", as_type="retriever", input={"q": "x"}, metadata={"k": 1}
            ) as obs:
                assert current_observation_id() == obs.id
                obs.update(output=["doc"])
                with start_observation("rank") as inner:
                    assert inner.trace_id == obs.trace_id

        handler()
        flushed(client)
        retrieve = sink.observation("retrieve")
        assert retrieve["type"] == "retriever"
        assert (retrieve["input"], retrieve["output"], retrieve["metadata"]) == (
            {"q": "x"},
            ["doc"],
            {"k": 1},
        )
        assert retrieve["parentObservationId"] == sink.observation("handler")["id"]
        assert sink.observation("rank")["parentObservationId"] == retrieve["id"]

    def test_a_root_block_starts_a_trace_and_records_errors(
        self, client: Spyglass, sink: Sink
    ) -> None:
        error = OSError("disk")
        with pytest.raises(OSError) as raised:
            with start_observation("job", as_type="agent", model="m"):
                raise error
        assert raised.value is error
        flushed(client)
        job = sink.observation("job")
        assert (job["type"], job["level"], job["model"]) == ("agent", "ERROR", "m")
        assert sink.bodies("trace-create")[0]["name"] == "job"

    def test_async_with(self, client: Spyglass, sink: Sink) -> None:
        async def main() -> None:
            async with start_observation("step") as obs:
                obs.update(output="ok")

        asyncio.run(main())
        flushed(client)
        assert sink.observation("step")["output"] == "ok"

    def test_updates_after_the_end_are_ignored(self, client: Spyglass, sink: Sink) -> None:
        with start_observation("done") as obs:
            pass
        obs.update(output="late")
        flushed(client)
        assert "output" not in sink.observation("done")

    def test_a_block_around_a_yield_survives_being_resumed_elsewhere(
        self, client: Spyglass, sink: Sink
    ) -> None:
        def steps() -> Iterator[int]:
            with start_observation("around-yield"):
                yield 1

        gen = steps()
        contextvars.copy_context().run(next, gen)  # entered in one context…
        with pytest.raises(StopIteration):
            next(gen)  # …left in another
        assert current_observation_id() is None
        flushed(client)
        assert sink.observation("around-yield")["name"] == "around-yield"

    def test_with_tracing_off_it_yields_a_harmless_observation(self) -> None:
        Spyglass(enabled=False)
        with start_observation("noop") as obs:
            obs.update(output="x")
            assert current_observation_id() is None


class TestTraceAndScores:
    def test_ids_outside_and_inside(self, client: Spyglass) -> None:
        assert current_trace_id() is None and current_observation_id() is None

        @observe
        def inside() -> tuple[str | None, str | None]:
            return current_trace_id(), current_observation_id()

        trace_id, observation_id = inside()
        assert trace_id is not None and len(trace_id) == 32
        assert observation_id is not None and len(observation_id) == 16

    def test_update_current_trace_merges_fields(self, client: Spyglass, sink: Sink) -> None:
        @observe
        def child() -> None:
            update_current_trace(tags=["b"], metadata={"y": 2}, session_id="s-1")

        @observe
        def root() -> str:
            update_current_trace(
                name="chat",
                user_id="u-1",
                tags=["a"],
                metadata={"x": 1},
                version="3",
                release="r1",
                public=True,
            )
            child()
            return "answer"

        root()
        flushed(client)
        [trace] = sink.bodies("trace-create")
        assert trace["name"] == "chat"
        assert (trace["userId"], trace["sessionId"]) == ("u-1", "s-1")
        assert trace["tags"] == ["a", "b"]
        assert trace["metadata"] == {"x": 1, "y": 2}
        assert (trace["version"], trace["release"], trace["public"]) == ("3", "r1", True)
        assert trace["output"] == "answer"

    def test_a_trace_update_after_the_root_ended_is_sent_on_its_own(
        self, client: Spyglass, sink: Sink
    ) -> None:
        started = threading.Event()
        release = threading.Event()

        @observe
        def late() -> None:
            started.set()
            release.wait(5)
            update_current_trace(user_id="late-user")

        @observe
        def root() -> threading.Thread:
            thread = threading.Thread(target=bind_context(late))
            thread.start()
            started.wait(5)
            return thread

        thread = root()
        release.set()
        thread.join()
        flushed(client)
        traces = sink.bodies("trace-create")
        assert len(traces) == 2 and traces[0]["id"] == traces[1]["id"]
        assert traces[1]["userId"] == "late-user" and "name" not in traces[1]

    def test_scores_attach_to_the_current_trace_or_to_given_ids(
        self, client: Spyglass, sink: Sink
    ) -> None:
        @observe
        def answer() -> str | None:
            score("helpful", 0.9, comment="good")
            score("safe", True, observation_id=current_observation_id())
            score("label", "positive", metadata={"by": "rule"})
            return current_trace_id()

        trace_id = answer()
        assert trace_id is not None
        score_id = score("later", 1, trace_id=trace_id, data_type="numeric", score_id="fixed-id")
        assert score_id == "fixed-id"
        assert score("orphan", 1) is None  # no trace here: logged, nothing sent
        flushed(client)
        scores = {s["name"]: s for s in sink.bodies("score-create")}
        assert set(scores) == {"helpful", "safe", "label", "later"}
        assert all(s["traceId"] == trace_id for s in scores.values())
        assert (scores["helpful"]["value"], scores["helpful"]["comment"]) == (0.9, "good")
        assert (scores["safe"]["value"], scores["safe"]["dataType"]) == (1, "BOOLEAN")
        assert scores["safe"]["observationId"] == sink.observation("answer")["id"]
        assert scores["label"]["metadata"] == {"by": "rule"}
        assert (scores["later"]["id"], scores["later"]["dataType"]) == ("fixed-id", "NUMERIC")
