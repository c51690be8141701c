"""Faults on real sockets: the server down, slow, or failing and then recovering.

Unlike the other transport tests these use the SDK's real HTTP transport (httpx over TCP) against
servers in this process: nothing listening (connection refused), a stdlib server that sleeps 5 s
per request, and one that answers 500 a few times and then recovers with 207. The app's calls must
stay fast, `flush(timeout)` must return in time, the queue must stay bounded, and after a recovery
every event must be accepted exactly once.
"""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from spyglass import Spyglass, observe, update_current_observation

KEYS = ("pk-lf-faults", "sk-lf-faults")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Recorder:
    """What a local test server saw: every request's event ids, and the ids it accepted."""

    def __init__(self, answer: Callable[[int], tuple[int, float]]) -> None:
        self.answer = answer  # request number (from 1) -> (status, seconds to sleep first)
        self.lock = threading.Lock()
        self.requests: list[tuple[int, list[str]]] = []  # (status answered, event ids)
        self.accepted: list[str] = []

    def all_ids(self) -> list[str]:
        with self.lock:
            return [i for _, ids in self.requests for i in ids]


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[int], tuple[int, float]]], tuple[str, Recorder]]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(answer: Callable[[int], tuple[int, float]]) -> tuple[str, Recorder]:
        recorder = Recorder(answer)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                batch = json.loads(gzip.decompress(raw))["batch"]
                ids = [e["id"] for e in batch]
                with recorder.lock:
                    number = len(recorder.requests) + 1
                status, delay = recorder.answer(number)
                if delay:
                    time.sleep(delay)
                with recorder.lock:
                    recorder.requests.append((status, ids))
                    if status < 300:
                        recorder.accepted.extend(ids)
                if status == 207:
                    body = json.dumps(
                        {"successes": [{"id": i, "status": 201} for i in ids], "errors": []}
                    ).encode()
                else:
                    body = b'{"message": "boom"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}", recorder

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@observe
def work(x: int) -> int:
    return x + 1


@observe(as_type="generation")
def generate(x: int) -> int:
    update_current_observation(model="gpt-4o-mini", usage_details={"input": 3, "output": 5})
    return x * 2


@observe
def pipeline(x: int) -> int:
    return generate(work(x))


def call_latencies_ms(fn: Callable[[int], int], calls: int) -> list[float]:
    latencies = []
    for i in range(calls):
        start = time.perf_counter()
        assert fn(i) == (i + 1) * 2 if fn is pipeline else fn(i) == i + 1
        latencies.append((time.perf_counter() - start) * 1e3)
    latencies.sort()
    return latencies


def p99(latencies: list[float]) -> float:
    return latencies[int(len(latencies) * 0.99) - 1]


# --- server down ------------------------------------------------------------------------------


def test_server_down_calls_stay_fast_and_flush_returns_in_time() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    client = Spyglass(url, *KEYS, flush_interval=0.05, max_retries=5)
    try:
        assert work(1) == 2  # warm up (imports, sender thread)
        latencies = call_latencies_ms(pipeline, 200)
        assert p99(latencies) < 5, f"p99 {p99(latencies):.2f} ms with the server down"

        start = time.monotonic()
        flushed = client.flush(timeout=1)
        elapsed = time.monotonic() - start
        assert elapsed < 1.5, f"flush(timeout=1) took {elapsed:.2f} s"
        assert flushed is False  # the sender is still retrying the refused batch
    finally:
        start = time.monotonic()
        client.shutdown(timeout=1)
        assert time.monotonic() - start < 1.5


def test_server_down_queue_stays_bounded_and_drops_are_counted() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    max_queue = 200
    client = Spyglass(url, *KEYS, flush_interval=0.05, max_queue_size=max_queue, max_retries=5)
    transport = client._transport
    assert transport is not None
    try:
        work(0)
        time.sleep(0.2)  # let the sender take the first batch and start failing on it
        calls = 50_000
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        longest = 0
        start = time.perf_counter()
        for i in range(calls):
            work(i)
            if i % 1000 == 0:
                longest = max(longest, len(transport._queue))
        elapsed = time.perf_counter() - start
        after, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        assert len(transport._queue) <= max_queue
        assert longest <= max_queue
        dropped = client.dropped
        # All but at most a queue's worth (plus what the sender took out to retry) were dropped.
        assert dropped.get("queue_full", 0) >= calls - 2 * max_queue - 500, dropped
        # No growth with the number of calls: 50k kept observations would be tens of MB.
        assert after - before < 2_000_000, f"{(after - before) / 1e6:.1f} MB retained"
        assert peak - before < 4_000_000, f"peak {(peak - before) / 1e6:.1f} MB"
        assert elapsed / calls < 1e-3, f"{elapsed / calls * 1e6:.0f} µs per call"

        start = time.monotonic()
        client.flush(timeout=1)
        assert time.monotonic() - start < 1.5
    finally:
        client.shutdown(timeout=1)
    # Every record is accounted for: queued ones are dropped at shutdown, none sent.
    assert transport.sent == 0


# --- server slow ------------------------------------------------------------------------------


def test_slow_server_calls_stay_fast_and_flush_returns_in_time(serve: Any) -> None:
    url, recorder = serve(lambda n: (207, 5.0))  # every request takes 5 s
    client = Spyglass(url, *KEYS, flush_interval=0.05, flush_at=1000, timeout=10, max_retries=0)
    try:
        assert work(0) == 1
        time.sleep(0.3)  # the sender is now inside the first 5 s request
        latencies = call_latencies_ms(pipeline, 200)
        assert p99(latencies) < 5, f"p99 {p99(latencies):.2f} ms with a slow server"

        start = time.monotonic()
        assert client.flush(timeout=1) is False
        elapsed = time.monotonic() - start
        assert 0.9 < elapsed < 1.5, f"flush(timeout=1) took {elapsed:.2f} s"

        # Once the server answers, everything arrives, each event once. How the events split
        # into (5 s) requests depends on where the first batch was cut: one or two requests.
        assert client.flush(timeout=12), "nothing arrived from the slow server"
        assert client.dropped == {}
        ids = recorder.all_ids()
        assert len(ids) == len(set(ids)) == 2 + 200 * 4
        assert 1 <= len(recorder.requests) <= 2
        assert sorted(recorder.accepted) == sorted(ids)
    finally:
        client.shutdown(timeout=1)


# --- server failing, then recovering ----------------------------------------------------------


def test_500s_then_recovery_delivers_every_event_exactly_once(serve: Any) -> None:
    failures = 2
    url, recorder = serve(lambda n: (500, 0.0) if n <= failures else (207, 0.0))
    client = Spyglass(url, *KEYS, flush_interval=0.05, flush_at=100, max_retries=5)
    try:
        for i in range(50):
            pipeline(i)  # 200 events (a trace and three observations each): two batches of 100
        # Backoff is 0.5 s, then 1 s (each with jitter), before the third attempt succeeds.
        assert client.flush(timeout=8), "not delivered after the server recovered"

        for i in range(50, 80):
            pipeline(i)  # after recovery: arrives at once
        assert client.flush(timeout=3)
        assert client.dropped == {}
    finally:
        client.shutdown(timeout=1)

    statuses = [status for status, _ in recorder.requests]
    assert statuses[:failures] == [500] * failures
    assert all(s == 207 for s in statuses[failures:])
    # The retried requests carried the same event ids as the batch that then got through.
    failed_ids = [ids for status, ids in recorder.requests if status == 500]
    first_accepted = next(ids for status, ids in recorder.requests if status == 207)
    assert all(ids == first_accepted for ids in failed_ids)
    # Every event id was accepted exactly once: retries re-send, but nothing is stored twice.
    assert len(recorder.accepted) == len(set(recorder.accepted)) == 80 * 4
    received = recorder.all_ids()
    assert len(received) == 80 * 4 + failures * len(first_accepted)
