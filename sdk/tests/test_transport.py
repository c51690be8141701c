"""The background transport: batching, retries, back-pressure, bounded flush, fork, exit."""

from __future__ import annotations

import email.utils
import gc
import gzip
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from support import Sink, flushed, make_client

from spyglass import Spyglass, _guard, _worker, observe, score
from spyglass._transport import Transport, _retry_after


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry waits, recorded instead of slept."""
    waited: list[float] = []

    def sleep(self: Transport, seconds: float) -> bool:
        waited.append(seconds)
        return True

    monkeypatch.setattr(Transport, "_sleep", sleep)
    return waited


@pytest.fixture
def hanging(sink: Sink) -> Iterator[threading.Event]:
    """A server that does not answer until the test ends."""
    release = threading.Event()

    def respond(request: httpx.Request) -> httpx.Response | None:
        release.wait(10)
        return None

    sink.respond = respond
    yield release
    release.set()


def scores(count: int, comment: str = "") -> None:
    for i in range(count):
        score(f"s{i}", i, trace_id="t-1", comment=comment or None)


def delivered_ids(sink: Sink) -> list[str]:
    return [event["id"] for event in sink.events]


class TestBatching:
    def test_batches_are_cut_by_count(self, sink: Sink) -> None:
        client = make_client(sink, flush_at=10)
        scores(35)
        flushed(client)
        sizes = [len(batch) for batch in sink.batches]
        assert sum(sizes) == 35 and max(sizes) <= 10

    def test_batches_are_cut_by_bytes(self, sink: Sink) -> None:
        client = make_client(sink)
        assert client._transport is not None
        client._transport._max_bytes = 3_000
        scores(20, comment="c" * 400)
        flushed(client)
        decoded = [gzip.decompress(r.content) for r in sink.requests]
        assert len(decoded) > 3 and all(len(body) <= 3_000 for body in decoded)
        assert len(sink.events) == 20

    def test_a_lone_record_is_sent_after_the_interval(self, sink: Sink) -> None:
        make_client(sink, flush_interval=0.05)
        scores(1)
        deadline = time.monotonic() + 3
        while not sink.events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(sink.events) == 1

    def test_an_event_too_large_for_a_request_is_shrunk(self, sink: Sink) -> None:
        client = make_client(sink)
        assert client._transport is not None
        client._transport._max_bytes = 5_000

        @observe
        def big(text: str) -> str:
            return text

        big("x" * 20_000)
        flushed(client)
        span = sink.observation("big")
        assert span["input"].startswith("…[truncated") and span["output"].startswith("…[truncated")

    def test_a_bad_record_is_dropped_alone(
        self, client: Spyglass, sink: Sink, internal_errors: list[BaseException]
    ) -> None:
        client._submit(object())
        scores(2)
        flushed(client)
        assert len(sink.events) == 2
        assert client.dropped == {"encoding_error": 1}
        assert len(internal_errors) == 1
        internal_errors.clear()


class TestRetries:
    def test_429_honours_retry_after(
        self, client: Spyglass, sink: Sink, delays: list[float]
    ) -> None:
        answers = iter([httpx.Response(429, headers={"Retry-After": "7"})])
        sink.respond = lambda request: next(answers, None)
        scores(3)
        flushed(client)
        assert delays == [7.0]
        assert len(sink.requests) == 2 and len(sink.events) == 3

    def test_retry_after_as_an_http_date_and_capped(self) -> None:
        soon = datetime.now(timezone.utc) + timedelta(seconds=30)
        assert 25 < (_retry_after(email.utils.format_datetime(soon)) or 0) <= 30
        assert _retry_after("100000") == 60.0
        assert _retry_after("soon") is None and _retry_after(None) is None

    def test_5xx_retries_with_exponential_backoff_and_jitter(
        self, client: Spyglass, sink: Sink, delays: list[float]
    ) -> None:
        answers = iter([httpx.Response(500), httpx.Response(503), httpx.Response(502)])
        sink.respond = lambda request: next(answers, None)
        scores(5)
        flushed(client)
        assert len(delays) == 3
        for attempt, delay in enumerate(delays):
            assert 0.25 * 2**attempt <= delay <= 0.5 * 2**attempt
        assert sorted(delivered_ids(sink)) == sorted(set(delivered_ids(sink)))
        assert len(sink.events) == 5 and client.dropped == {}

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
    def test_other_4xx_are_never_retried(
        self, client: Spyglass, sink: Sink, delays: list[float], status: int
    ) -> None:
        sink.respond = lambda request: httpx.Response(status, json={"message": "no"})
        scores(4)
        flushed(client)
        assert len(sink.requests) == 1 and delays == []
        assert client.dropped == {f"rejected_{status}": 4}

    @pytest.mark.parametrize(
        "error",
        [
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("eof"),
        ],
    )
    def test_network_errors_are_retried(
        self, client: Spyglass, sink: Sink, delays: list[float], error: Exception
    ) -> None:
        failures = iter([error, error])

        def respond(request: httpx.Request) -> httpx.Response | None:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return None

        sink.respond = respond
        scores(2)
        flushed(client)
        assert len(delays) == 2 and len(sink.events) == 2

    def test_gives_up_after_max_retries_and_counts_the_loss(
        self, sink: Sink, delays: list[float]
    ) -> None:
        client = make_client(sink, max_retries=2)

        def respond(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused")

        sink.respond = respond
        scores(3)
        flushed(client)
        assert len(sink.requests) == 3
        assert client.dropped == {"send_failed": 3}

    def test_413_splits_the_batch(self, client: Spyglass, sink: Sink, delays: list[float]) -> None:
        def respond(request: httpx.Request) -> httpx.Response | None:
            count = len(json.loads(gzip.decompress(request.content))["batch"])
            return httpx.Response(413) if count > 2 else None

        sink.respond = respond
        scores(7)
        flushed(client)
        assert sorted(e["body"]["name"] for e in sink.events) == sorted(f"s{i}" for i in range(7))
        assert delays == []

    def test_a_lone_event_refused_as_too_large_is_dropped(
        self, client: Spyglass, sink: Sink
    ) -> None:
        sink.respond = lambda request: httpx.Response(413)
        scores(2)
        flushed(client)
        assert client.dropped == {"rejected_413": 2}
        assert len(sink.requests) == 3  # the pair, then each alone

    def test_per_event_errors_in_a_207_are_counted(self, client: Spyglass, sink: Sink) -> None:
        def respond(request: httpx.Request) -> httpx.Response:
            batch = json.loads(gzip.decompress(request.content))["batch"]
            errors = [{"id": batch[0]["id"], "status": 400, "message": "Invalid request data"}]
            return httpx.Response(207, json={"successes": [], "errors": errors})

        sink.respond = respond
        scores(3)
        flushed(client)
        assert client.dropped == {"rejected_event": 1}
        assert client._transport is not None and client._transport.sent == 2

    def test_a_server_failing_then_recovering_gets_everything_once(
        self, sink: Sink, delays: list[float]
    ) -> None:
        client = make_client(sink, flush_at=5)
        answers = iter([httpx.Response(500)] * 4)
        sink.respond = lambda request: next(answers, None)

        @observe
        def work(i: int) -> int:
            return i

        assert [work(i) for i in range(20)] == list(range(20))
        flushed(client)
        ids = delivered_ids(sink)
        assert len(ids) == 40 and len(set(ids)) == 40
        assert len({o["id"] for o in sink.observations()}) == 20
        assert client.dropped == {}


class TestNeverBlocks:
    def test_a_full_queue_drops_and_counts(self, sink: Sink) -> None:
        client = make_client(sink, max_queue_size=5, flush_interval=3600, flush_at=1000)
        scores(20)
        assert client.dropped == {"queue_full": 15}
        flushed(client)
        assert len(sink.events) == 5

    def test_a_hanging_server_costs_the_app_nothing(
        self, sink: Sink, hanging: threading.Event
    ) -> None:
        client = make_client(sink, max_queue_size=100, flush_at=10)

        @observe
        def work(i: int) -> int:
            return i

        slowest = 0.0
        gc.disable()  # a full collection of the test session's objects is not the SDK's pause
        try:
            for i in range(3000):
                start = time.perf_counter()
                assert work(i) == i
                slowest = max(slowest, time.perf_counter() - start)
        finally:
            gc.enable()
        assert slowest < 0.05
        assert client._transport is not None and len(client._transport._queue) <= 100
        assert client.dropped["queue_full"] >= 5000

    def test_flush_returns_within_its_timeout(self, sink: Sink, hanging: threading.Event) -> None:
        client = make_client(sink)
        scores(3)
        start = time.monotonic()
        assert client.flush(timeout=0.5) is False
        assert time.monotonic() - start < 1.0
        start = time.monotonic()
        assert client.flush(timeout=0) is False
        assert time.monotonic() - start < 0.1

    def test_shutdown_is_bounded_and_later_records_are_dropped(
        self, sink: Sink, hanging: threading.Event
    ) -> None:
        client = make_client(sink)
        scores(2)
        start = time.monotonic()
        assert client.shutdown(timeout=0.3) is False
        assert time.monotonic() - start < 1.0
        assert client.shutdown() is True  # a second call is a no-op
        scores(1)
        assert client.dropped.get("shutdown") == 1

    def test_shutdown_interrupts_a_retry_wait(self, sink: Sink) -> None:
        client = make_client(sink, max_retries=10)
        sink.respond = lambda request: httpx.Response(503)
        scores(2)
        assert client.shutdown(timeout=0.1) is False
        deadline = time.monotonic() + 3
        while "shutdown" not in client.dropped and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.dropped == {"shutdown": 2}
        assert len(sink.requests) <= 3

    def test_connection_refused_by_a_real_socket(self, delays: list[float]) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # closed again: nothing listens there
        client = Spyglass(f"http://127.0.0.1:{port}", "pk", "sk", max_retries=1)

        @observe
        def work() -> str:
            return "fine"

        assert work() == "fine"
        assert client.flush(timeout=5)
        assert client.dropped == {"send_failed": 2}


class TestOneSender:
    def test_clients_share_the_process_sender(self, sink: Sink) -> None:
        first = make_client(sink)
        scores(1)
        threads = threading.active_count()
        second = make_client(sink)
        scores(1)
        flushed(first)
        flushed(second)
        assert first._transport is not None and second._transport is not None
        assert first._transport._worker is second._transport._worker
        assert threading.active_count() == threads
        assert len(sink.events) == 2
        first.shutdown()

    def test_a_dropped_client_is_collected_after_its_records_are_sent(self, sink: Sink) -> None:
        worker = _worker.current()
        worker._drain_all = lambda: None  # type: ignore[method-assign]  # the sender idles
        try:
            client = make_client(sink)
            scores(3)
            assert client._transport in worker.holding
            ref = weakref.ref(client._transport)
            make_client(sink)  # the new active client; the app keeps no reference to the first
            del client
            gc.collect()
            assert ref() is not None  # still holding records: kept alive until they are sent
        finally:
            del worker._drain_all
        worker.wake.set()
        deadline = time.monotonic() + 5
        while len(sink.events) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(sink.events) == 3
        for _ in range(100):
            gc.collect()
            if ref() is None:
                break
            time.sleep(0.01)
        assert ref() is None


class TestLogging:
    def test_problems_are_logged_at_most_once_a_minute(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        _guard.set_debug(False)
        with caplog.at_level(logging.WARNING, logger="spyglass"):
            for _ in range(5):
                _guard.problem("send_failed", "server down")
            _guard._last_logged["send_failed"] -= 61  # a minute later
            _guard.problem("send_failed", "server down")
        messages = [r.getMessage() for r in caplog.records]
        assert messages == [
            "server down",
            "server down (4 similar messages held back in the last minute)",
        ]

    def test_debug_logs_everything(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="spyglass"):
            for _ in range(3):
                _guard.problem("key", "loud")
        assert len(caplog.records) == 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork() with threads
def test_a_forked_child_gets_a_fresh_worker(tmp_path: object, sink: Sink) -> None:
    out = os.path.join(str(tmp_path), "received.jsonl")

    def record(request: httpx.Request) -> httpx.Response:
        batch = json.loads(gzip.decompress(request.content))["batch"]
        with open(out, "a") as file:
            for event in batch:
                file.write(json.dumps({"pid": os.getpid(), "event": event}) + "\n")
        return httpx.Response(200)

    sink.respond = record
    client = make_client(sink, flush_interval=3600, flush_at=1000)

    @observe
    def work(who: str) -> str:
        return who

    work("parent-before")
    flushed(client)
    work("parent-pending")  # queued in the parent when the fork happens
    parent_thread = _worker.current().thread
    assert parent_thread is not None and parent_thread.is_alive()

    pid = os.fork()
    if pid == 0:  # the child: must leave through os._exit, whatever happens
        code = 1
        try:
            work("child")
            thread = _worker.current().thread
            fresh = thread is not None and thread is not parent_thread and thread.is_alive()
            code = 0 if client.flush(5) and fresh else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    flushed(client)
    with open(out) as file:
        rows = [json.loads(line) for line in file]
    by_pid: dict[int, list[str]] = {}
    for row in rows:
        if row["event"]["type"] == "span-create":
            by_pid.setdefault(row["pid"], []).append(row["event"]["body"]["output"])
    assert by_pid[pid] == ["child"]
    assert sorted(by_pid[os.getpid()]) == ["parent-before", "parent-pending"]


def run_script(body: str, timeout: float = 20) -> tuple[subprocess.CompletedProcess[str], float]:
    script = textwrap.dedent(
        """
        import gzip, json, sys, time
        import httpx
        from spyglass import Spyglass, observe
        """
    ) + textwrap.dedent(body)
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout
    )
    return result, time.monotonic() - start


class TestExit:
    def test_pending_records_are_sent_at_exit(self) -> None:
        result, _ = run_script(
            """
            def handler(request):
                batch = json.loads(gzip.decompress(request.content))["batch"]
                print("received", len(batch), flush=True)
                return httpx.Response(200)

            Spyglass("http://x", "pk", "sk", transport=httpx.MockTransport(handler),
                     flush_interval=3600)

            @observe
            def work():
                return 1

            work()
            """
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "received 2"

    def test_exit_is_bounded_when_the_server_hangs(self) -> None:
        result, elapsed = run_script(
            """
            def handler(request):
                time.sleep(30)
                return httpx.Response(200)

            Spyglass("http://x", "pk", "sk", transport=httpx.MockTransport(handler),
                     shutdown_timeout=0.5)

            @observe
            def work():
                return 1

            work()
            print("done", flush=True)
            """
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "done"
        assert elapsed < 5
