"""Tracing overhead per call: spyglass vs the langfuse SDK vs a plain OpenTelemetry span, one run.

    /work/venv/bin/python bench/sdk_overhead.py [calls]      (default 5000 calls per case)

Cases: `single` (one decorated function), `nested-3` (three levels), `generation` (a generation
with model and usage). Each is compared with the same functions undecorated (the baseline).

  (i)   spyglass  `spyglass.observe`, exporting to the sink's /api/public/ingestion;
  (ii)  langfuse  langfuse's `@observe` (`Langfuse(base_url=sink)`), exporting OTLP to the sink's
                  /api/public/otel/v1/traces; like spyglass it captures inputs and outputs;
  (iii) otel      a bare span: TracerProvider + BatchSpanProcessor + OTLPSpanExporter (HTTP) to
                  the sink's /v1/traces; no input/output capture (usage set as gen_ai.* attributes).

The sinks (one answering at once, one sleeping 1 s per request) run in their own processes, so
their CPU is not billed. Each SDK runs in a child process of its own (langfuse keeps one client per
process), which reports:

  cpu µs  amortized cost per call over the baseline: CPU time of the whole process (caller and
          export threads) across N calls plus the final flush, divided by N;
  p50/p99 caller latency of single calls (µs over the baseline median), fast sink;
  slow p99  caller latency p99 while the sink takes 1 s per request (nothing flushed).
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

HERE = os.path.abspath(__file__)
CALLS = 5000


# --- sink (own process) ----------------------------------------------------------------------


def run_sink(port: int, delay: float) -> None:
    counts: dict[str, int] = {}

    class Sink(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if delay:
                time.sleep(delay)
            path = self.path.split("?")[0]
            counts[path] = counts.get(path, 0) + 1
            if path.endswith("/v1/traces"):
                self._answer(200, b"", "application/x-protobuf")
            elif path == "/api/public/ingestion":
                self._answer(207, b'{"successes":[],"errors":[]}')
            else:
                self._answer(200, b"{}")

        def do_GET(self) -> None:  # noqa: N802
            self._answer(200, json.dumps(counts).encode())

        def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the measuring child exited without waiting for the answer
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink)
    server.daemon_threads = True
    server.serve_forever()


def start_sink(delay: float) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, HERE, "--sink", str(port), str(delay)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/count", timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    return proc, url


# --- the three SDKs (each in its own child process) ------------------------------------------


def plain_cases() -> dict[str, Callable[[int], int]]:
    def single(x: int) -> int:
        return x + 1

    def leaf(x: int) -> int:
        return x + 1

    def middle(x: int) -> int:
        return leaf(x)

    def nested3(x: int) -> int:
        return middle(x)

    def generation(x: int) -> int:
        return x + 1

    return {"single": single, "nested-3": nested3, "generation": generation}


def spyglass_setup(url: str) -> tuple[dict[str, Callable[[int], int]], Callable[[], None]]:
    import logging

    from spyglass import Spyglass, observe, update_current_observation

    logging.getLogger("spyglass").setLevel(logging.ERROR)
    client = Spyglass(url, "pk-bench", "sk-bench", max_queue_size=100_000)

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
        update_current_observation(model="gpt-4o-mini", usage_details={"input": 12, "output": 30})
        return x + 1

    def flush() -> None:
        assert client.flush(120)

    return {"single": single, "nested-3": nested3, "generation": generation}, flush


def langfuse_setup(url: str) -> tuple[dict[str, Callable[[int], int]], Callable[[], None]]:
    import logging

    from langfuse import Langfuse, observe

    logging.getLogger("langfuse").setLevel(logging.ERROR)
    client = Langfuse(public_key="pk-bench", secret_key="sk-bench", base_url=url)

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
        client.update_current_generation(
            model="gpt-4o-mini", usage_details={"input": 12, "output": 30}
        )
        return x + 1

    return {"single": single, "nested-3": nested3, "generation": generation}, client.flush


def otel_setup(url: str) -> tuple[dict[str, Callable[[int], int]], Callable[[], None]]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url + "/v1/traces")))
    tracer = provider.get_tracer("bench")

    def single(x: int) -> int:
        with tracer.start_as_current_span("single"):
            return x + 1

    def leaf(x: int) -> int:
        with tracer.start_as_current_span("leaf"):
            return x + 1

    def middle(x: int) -> int:
        with tracer.start_as_current_span("middle"):
            return leaf(x)

    def nested3(x: int) -> int:
        with tracer.start_as_current_span("nested3"):
            return middle(x)

    def generation(x: int) -> int:
        with tracer.start_as_current_span("generation") as span:
            span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            span.set_attribute("gen_ai.usage.input_tokens", 12)
            span.set_attribute("gen_ai.usage.output_tokens", 30)
            return x + 1

    def flush() -> None:
        assert provider.force_flush(120_000)

    return {"single": single, "nested-3": nested3, "generation": generation}, flush


SETUPS = {"spyglass": spyglass_setup, "langfuse": langfuse_setup, "otel": otel_setup}


def timed_ns(fn: Callable[[int], int], calls: int) -> list[int]:
    out = []
    clock = time.perf_counter_ns
    for i in range(calls):
        t0 = clock()
        fn(i)
        out.append(clock() - t0)
    out.sort()
    return out


def pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * q))] / 1e3


def measure(sdk: str, url: str, mode: str, calls: int) -> dict[str, dict[str, float]]:
    cases, flush = SETUPS[sdk](url)
    plain = plain_cases()
    results: dict[str, dict[str, float]] = {}
    for name, fn in cases.items():
        base_fn = plain[name]
        for i in range(200):  # warm: imports, sender thread, connection
            fn(i)
            base_fn(i)
        if mode == "fast":
            flush()
            cpu0 = time.process_time()
            for i in range(calls):
                base_fn(i)
            base_cpu = (time.process_time() - cpu0) / calls * 1e6
            cpu0 = time.process_time()
            for i in range(calls):
                fn(i)
            flush()
            cpu = (time.process_time() - cpu0) / calls * 1e6 - base_cpu
            base_p50 = pct(timed_ns(base_fn, calls), 0.5)
            lat = timed_ns(fn, calls)
            flush()
            results[name] = {
                "cpu": cpu,
                "p50": pct(lat, 0.5) - base_p50,
                "p99": pct(lat, 0.99) - base_p50,
            }
        else:
            base_p50 = pct(timed_ns(base_fn, calls), 0.5)
            lat = timed_ns(fn, calls)
            results[name] = {"slow_p99": pct(lat, 0.99) - base_p50, "slow_max": lat[-1] / 1e3}
    return results


def child(sdk: str, url: str, mode: str, calls: int) -> dict[str, dict[str, float]]:
    out = subprocess.run(
        [sys.executable, HERE, "--measure", sdk, url, mode, str(calls)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{sdk}/{mode} failed:\n{out.stderr[-3000:]}")
    result: dict[str, dict[str, float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(calls: int) -> None:
    import langfuse
    import opentelemetry.sdk.version as otel_version
    import spyglass

    fast, fast_url = start_sink(0.0)
    slow, slow_url = start_sink(1.0)
    try:
        rows = {}
        for sdk in SETUPS:
            rows[sdk] = (
                child(sdk, fast_url, "fast", calls),
                child(sdk, slow_url, "slow", calls),
            )
        counts = urllib.request.urlopen(fast_url + "/count").read().decode()
    finally:
        for proc in (fast, slow):
            proc.terminate()
            proc.wait()
    print(f"$ {sys.executable} bench/sdk_overhead.py {calls}")
    print(
        f"python {sys.version.split()[0]}, spyglass {spyglass.__version__}, "
        f"langfuse {langfuse.__version__ if hasattr(langfuse, '__version__') else '?'}, "
        f"opentelemetry-sdk {otel_version.__version__}; {calls} calls per case; "
        "µs per call over the undecorated baseline"
    )
    header = f"{'case':<12}{'sdk':<10}{'cpu µs':>9}{'p50 µs':>9}{'p99 µs':>9}"
    print(header + f"{'slow p99':>10}{'slow max':>10}")
    for case in ("single", "nested-3", "generation"):
        for sdk, (fast_r, slow_r) in rows.items():
            f, s = fast_r[case], slow_r[case]
            print(
                f"{case:<12}{sdk:<10}{f['cpu']:>9.1f}{f['p50']:>9.1f}{f['p99']:>9.1f}"
                f"{s['slow_p99']:>10.1f}{s['slow_max']:>10.0f}"
            )
    print(f"requests received by the fast sink, by path: {counts}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sink"]:
        run_sink(int(sys.argv[2]), float(sys.argv[3]))
    elif sys.argv[1:2] == ["--measure"]:
        res = measure(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        print(json.dumps(res), flush=True)
        os._exit(0)  # skip exit-time flushes (the slow sink would hold them up)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else CALLS)
