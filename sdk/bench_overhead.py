"""Overhead of `@observe` per call, in microseconds over an undecorated baseline.

    /work/venv/bin/python sdk/bench_overhead.py [calls] [--stdlib-json]

`--stdlib-json` encodes with the standard library even when orjson is installed.

The SDK exports to a sink in another process (a stdlib HTTP server that unzips and counts events),
so the sink's work is not billed to the SDK. Columns, per call, over the baseline:

  no-op   tracing off (SDK not configured);
  calls   wall time of the loop of calls while the sender runs beside it;
  total   the same plus the flush that waits for the last event to reach the sink (wall time,
          so it includes waiting on the sink's answers);
  cpu     CPU time of this process (both threads) over the same span: the amortized cost of
          recording *and* exporting that the app pays;
  p50/p99 latency of single calls timed one by one while the export runs.
"""

from __future__ import annotations

import gzip
import http.server
import json
import logging
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import spyglass
from spyglass import Spyglass, observe, update_current_observation

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
CALLS = int(ARGS[0]) if ARGS and sys.argv[1] != "--sink" else 20_000
if "--stdlib-json" in sys.argv:
    from spyglass import _serialize

    _serialize._orjson_checked, _serialize._orjson_dumps = True, None
logging.getLogger("spyglass").setLevel(logging.ERROR)


def run_sink(port: int) -> None:
    count = 0

    class Sink(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real server
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802
            nonlocal count
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            count += len(json.loads(gzip.decompress(raw))["batch"])
            self._answer(207, b'{"successes":[],"errors":[]}')

        def do_GET(self) -> None:  # noqa: N802
            self._answer(200, str(count).encode())

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()


def plain(x: int) -> int:
    return x + 1


@observe
def single(x: int) -> int:
    return x + 1


@observe
def leaf(x: int) -> int:
    return x + 1


@observe
def middle(x: int) -> int:
    return leaf(x)


@observe
def nested3(x: int) -> int:
    return middle(x)


@observe(as_type="generation")
def generation(x: int) -> int:
    update_current_observation(
        model="gpt-4o-mini", usage_details={"input": 12, "output": 30}, model_parameters={"t": 0}
    )
    return x + 1


CASES = [("single", single), ("nested-3", nested3), ("generation", generation)]


def loop_us(fn, calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        fn(i)
    return (time.perf_counter() - start) / calls * 1e6


def median_loop_us(fn, calls: int, repeats: int = 5) -> float:
    return statistics.median(loop_us(fn, calls) for _ in range(repeats))


def exported(fn, calls: int, url: str) -> tuple[float, float, float, float, float]:
    client = Spyglass(url, "pk", "sk", max_queue_size=1_000_000)
    fn(0)
    client.flush(10)  # warm: sender thread started, connection open
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(calls):
        fn(i)
    calls_done = time.perf_counter()
    assert client.flush(120)
    end, cpu_end = time.perf_counter(), time.process_time()
    latencies = []
    for i in range(calls):
        t0 = time.perf_counter_ns()
        fn(i)
        latencies.append(time.perf_counter_ns() - t0)
    client.flush(120)
    assert not client.dropped, client.dropped
    client.shutdown(1)
    latencies.sort()
    return (
        (calls_done - start) / calls * 1e6,
        (end - start) / calls * 1e6,
        (cpu_end - cpu_start) / calls * 1e6,
        latencies[len(latencies) // 2] / 1e3,
        latencies[int(len(latencies) * 0.99)] / 1e3,
    )


def _fast_json() -> bool:
    from spyglass import _serialize

    return _serialize._fast_dumps() is not None


def main() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        base = median_loop_us(plain, CALLS)
        print(
            f"spyglass {spyglass.__version__}, python {sys.version.split()[0]}, "
            f"json: {'orjson' if _fast_json() else 'stdlib'}, {CALLS} calls "
            f"per run, baseline {base:.2f} µs/call; µs per call over the baseline"
        )
        print(f"{'case':<12}{'no-op':>8}{'calls':>8}{'total':>8}{'cpu':>8}{'p50':>8}{'p99':>8}")
        for name, fn in CASES:
            Spyglass(enabled=False)
            noop = median_loop_us(fn, CALLS) - base
            calls, total, cpu, p50, p99 = exported(fn, CALLS, url)
            print(
                f"{name:<12}{noop:>8.2f}{calls - base:>8.2f}{total - base:>8.2f}"
                f"{cpu - base:>8.2f}{p50:>8.2f}{p99:>8.2f}"
            )
        received = int(urllib.request.urlopen(url).read())
        print(f"events received by the sink: {received}")
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sink"]:
        run_sink(int(sys.argv[2]))
    else:
        main()
