#!/usr/bin/env python3
"""OTLP/HTTP ingestion benchmark: spans/s from the first byte until readable, protobuf + gzip.

Sends pre-built `ExportTraceServiceRequest` bodies, shaped like the exports of the Langfuse
Python SDK (scope `langfuse-sdk`, `langfuse.*` attributes; or OTel GenAI attributes with
`--style genai`), to `POST /api/public/otel/v1/traces` from several concurrent clients and
prints, per server and database:

  * acknowledged spans/s   spans answered 200 (minus `partialSuccess.rejectedSpans`), divided by
                           the time from the first request's first byte to the last answer
  * readable spans/s       the same spans divided by the time from the first byte until all of
                           them can be read back. Spyglass answers 200 after the commit, so for
                           it that is the last answer (checked by reading sampled traces right
                           after their 200 and by counting the rows); servers that store in
                           the background (Phoenix) are polled in their database until all
                           acknowledged spans are there
  * p50 / p99 latency      of the requests answered 200
  * server CPU µs/span     CPU (user + system) of the server's process tree from the first byte
                           until readable, per span
  * DB CPU µs/span         PostgreSQL only: backends of the benchmark database + shared
                           background processes, same window
  * peak RSS MB            the server's memory high-water mark

Targets: Spyglass (`python -m server serve` from this checkout) and, for comparison, Arize
Phoenix (`phoenix serve` from a separate installation: `--phoenix PATH`), each on SQLite and
on PostgreSQL, started one after the other with the same request bodies. Or a server that is
already running (`--url`). bench/README.md has examples; `--help` lists the options.
Linux only (CPU and memory figures come from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import math
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as common  # noqa: E402  (shared payload text, /proc sampling, server lifecycle)

PROTOBUF = "application/x-protobuf"
SPYGLASS_PATH = "/api/public/otel/v1/traces"
PHOENIX_PATH = "/v1/traces"
DEFAULT_PHOENIX = "/tmp/phoenix-venv/bin/phoenix"
SDK_VERSION = "5.0.4"  # the Langfuse Python SDK whose exports the payloads copy
OTEL_SDK_VERSION = "1.45.2"


# --------------------------------------------------------------------------------------------
# Payloads: ExportTraceServiceRequest bodies, built (and compressed) before the clock starts
# --------------------------------------------------------------------------------------------
#
# Ids carry the run tag and the request's sequence number, so a run's rows can be counted by
# an index range and no two requests (or runs) share ids:
#   trace id (16 bytes) = tag (4) + request seq (4) + trace index (2) + random (6)
#   span id  (8 bytes)  = tag[:2] + request seq (3) + trace index (2) + span index (1)


@dataclass(slots=True)
class RequestBody:
    seq: int
    body: bytes  # as sent (gzip-compressed unless --compression none)
    raw_size: int  # serialized protobuf size
    spans: int
    generations: int
    traces: int
    sample_trace: str  # hex id of one trace of this request, for the read-after-ack check
    sample_spans: tuple[str, ...]  # its span ids (hex)


def trace_id_bytes(tag: bytes, seq: int, t_index: int, rng: random.Random) -> bytes:
    return tag + seq.to_bytes(4, "big") + t_index.to_bytes(2, "big") + rng.randbytes(6)


def span_id_bytes(tag: bytes, seq: int, t_index: int, k: int) -> bytes:
    return tag[:2] + seq.to_bytes(3, "big") + t_index.to_bytes(2, "big") + k.to_bytes(1, "big")


def span_id_range(tag: bytes, first_seq: int, end_seq: int) -> tuple[str, str]:
    """[lo, hi) over hex span ids of requests first_seq .. end_seq-1."""
    return (tag[:2] + first_seq.to_bytes(3, "big")).hex(), (
        tag[:2] + end_seq.to_bytes(3, "big")
    ).hex()


def trace_id_range(tag: bytes, first_seq: int, end_seq: int) -> tuple[str, str]:
    return (tag + first_seq.to_bytes(4, "big")).hex(), (tag + end_seq.to_bytes(4, "big")).hex()


def _json(value: Any) -> str:
    """As the SDK serialises attribute values: json.dumps (ASCII escapes, ", " separators)."""
    return json.dumps(value)


def _set_attr(attributes: Any, key: str, value: Any) -> None:
    kv = attributes.add()
    kv.key = key
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    elif isinstance(value, (list, tuple)):
        for item in value:
            kv.value.array_value.values.add().string_value = item
    else:
        kv.value.string_value = value


@dataclass(slots=True)
class SpanPlan:
    k: int
    parent: int | None
    start_ns: int
    end_ns: int
    generation: bool
    level: str


_TEXTS: common.TextSource | None = None


def _texts(seed: int, rng: random.Random) -> common.TextSource:
    """The word soup is built once per process; each request slices it with its own rng."""
    global _TEXTS
    if _TEXTS is None:
        _TEXTS = common.TextSource(random.Random(seed))
    _TEXTS.rng = rng
    return _TEXTS


def build_request(
    seq: int,
    traces: int,
    tag: bytes,
    seed: int,
    style: str,
    compression: str,
    gzip_level: int,
    base_ns: int,
) -> RequestBody:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    rng = random.Random(seed * 1_000_003 + seq)
    texts = _texts(seed, rng)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource = resource_spans.resource.attributes
    for key, value in (
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.version", OTEL_SDK_VERSION),
        # one of a few application processes; the name is the SDK's default
        ("service.instance.id", str(uuid.UUID(int=rng.randrange(8) + 1000, version=4))),
        ("service.name", "unknown_service:python"),
    ):
        _set_attr(resource, key, value)
    scope_spans = resource_spans.scope_spans.add()
    if style == "langfuse":
        scope_spans.scope.name = "langfuse-sdk"
        scope_spans.scope.version = SDK_VERSION
        _set_attr(scope_spans.scope.attributes, "public_key", common.DEFAULT_PUBLIC_KEY)
    else:
        scope_spans.scope.name = "opentelemetry.instrumentation.openai_v2"
        scope_spans.scope.version = "2.1b0"

    # Plan every span first: the SDK's batch processor exports spans as they end, so a batch
    # holds children before their parents and traces interleave.
    planned: list[tuple[int, int, SpanPlan, bytes, list[SpanPlan], dict[str, Any]]] = []
    generations = 0
    sample: tuple[str, tuple[str, ...]] | None = None
    sample_index = rng.randrange(traces)
    for t in range(traces):
        tid = trace_id_bytes(tag, seq, t, rng)
        start = base_ns + rng.randint(0, 5_000) * 1_000_000
        plans: list[SpanPlan] = []
        clock = start
        for k in range(rng.randint(5, 10)):
            begin = clock + rng.randint(1, 40) * 1_000_000
            duration = rng.randint(20, 3000) * 1_000_000
            clock = begin + duration // 3
            level = rng.choices(["DEFAULT", "WARNING", "ERROR"], weights=[96, 3, 1])[0]
            if k == 0:
                plans.append(SpanPlan(k, None, begin, begin + duration, False, level))
            else:
                parents = [p.k for p in plans if not p.generation]
                plans.append(
                    SpanPlan(
                        k, rng.choice(parents), begin, begin + duration, rng.random() < 0.5, level
                    )
                )
        for plan in reversed(plans):  # a parent ends after its children
            if plan.parent is not None:
                parent = plans[plan.parent]
                parent.end_ns = max(parent.end_ns, plan.end_ns + 1_000_000)
        generations += sum(p.generation for p in plans)
        trace_info = {
            "name": rng.choice(["support-chat", "rag-query", "agent-run", "nightly-report"]),
            "user": f"user-{rng.randint(1, 500)}",
            "session": f"session-{tag.hex()}-{rng.randint(1, 200)}",
            "tags": rng.sample(
                ["bench", "prod", "agent", "rag", "beta", "mobile"], k=rng.randint(1, 3)
            ),
            "region": rng.choice(["eu", "us"]),
        }
        for plan in plans:
            planned.append((plan.end_ns, t, plan, tid, plans, trace_info))
        if t == sample_index:
            sample = (
                tid.hex(),
                tuple(span_id_bytes(tag, seq, t, p.k).hex() for p in plans),
            )
    planned.sort(key=lambda item: item[0])

    spans = scope_spans.spans
    for _, t, plan, tid, _plans, trace_info in planned:
        span = spans.add()
        span.trace_id = tid
        span.span_id = span_id_bytes(tag, seq, t, plan.k)
        if plan.parent is not None:
            span.parent_span_id = span_id_bytes(tag, seq, t, plan.parent)
        span.kind = 1  # INTERNAL
        span.flags = 0x100  # what the Python exporter sends: "is_remote" known (false)
        span.start_time_unix_nano = plan.start_ns
        span.end_time_unix_nano = plan.end_ns
        if style == "langfuse":
            _langfuse_span(span, plan, trace_info, texts, rng)
        else:
            _genai_span(span, plan, trace_info, texts, rng)
        if plan.level == "ERROR":
            span.status.code = 2
            span.status.message = texts.text(40, 120)
    raw = request.SerializeToString()
    body = gzip.compress(raw, compresslevel=gzip_level, mtime=0) if compression == "gzip" else raw
    assert sample is not None
    return RequestBody(
        seq=seq,
        body=body,
        raw_size=len(raw),
        spans=len(planned),
        generations=generations,
        traces=traces,
        sample_trace=sample[0],
        sample_spans=sample[1],
    )


def _iso_ns(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()


def _langfuse_span(
    span: Any, plan: SpanPlan, trace: dict[str, Any], texts: common.TextSource, rng: random.Random
) -> None:
    """Attributes as the Langfuse Python SDK 5 sets them (captured from langfuse 5.0.4):
    trace-level ones come from `propagate_attributes` and so sit on every span; values that
    are not strings are JSON-serialised."""
    attrs = span.attributes
    put = _set_attr
    put(attrs, "user.id", trace["user"])
    put(attrs, "session.id", trace["session"])
    put(attrs, "langfuse.trace.tags", trace["tags"])
    put(attrs, "langfuse.trace.name", trace["name"])
    put(attrs, "langfuse.trace.metadata.app", _json("bench"))
    put(attrs, "langfuse.trace.metadata.region", _json(trace["region"]))
    put(attrs, "langfuse.environment", "production")
    if plan.k == 0:
        span.name = "agent"
        put(attrs, "langfuse.internal.is_app_root", True)
    if plan.generation:
        model, params = rng.choice(common._MODELS)
        system = rng.choice(common._SYSTEM_PROMPTS)
        user = texts.text(max(1, 500 - len(system)), 2000 - len(system))
        answer = texts.text(500, 2000)
        span.name = rng.choice(common._GEN_NAMES)
        put(attrs, "langfuse.observation.type", "generation")
        put(
            attrs,
            "langfuse.observation.input",
            _json([{"role": "system", "content": system}, {"role": "user", "content": user}]),
        )
        put(attrs, "langfuse.observation.output", _json({"role": "assistant", "content": answer}))
        put(attrs, "langfuse.observation.model.name", model)
        put(attrs, "langfuse.observation.model.parameters", _json(params))
        put(
            attrs,
            "langfuse.observation.usage_details",
            _json({"input": (len(system) + len(user)) // 4, "output": len(answer) // 4}),
        )
        put(
            attrs,
            "langfuse.observation.completion_start_time",
            _json(_iso_ns(plan.start_ns + rng.randint(80, 900) * 1_000_000)),
        )
    else:
        if plan.k:
            span.name = rng.choice(common._SPAN_NAMES)
        put(attrs, "langfuse.observation.type", "span")
        put(
            attrs,
            "langfuse.observation.input",
            _json({"query": texts.text(500, 2000), "top_k": rng.choice([3, 5, 10])}),
        )
        put(attrs, "langfuse.observation.output", texts.text(500, 2000))  # a str goes as is
    put(attrs, "langfuse.observation.metadata.component", _json("bench"))
    put(attrs, "langfuse.observation.metadata.attempt", _json(rng.randint(1, 3)))
    put(attrs, "langfuse.observation.metadata.k", _json(plan.k))
    if plan.level != "DEFAULT":
        put(attrs, "langfuse.observation.level", plan.level)
        put(attrs, "langfuse.observation.status_message", texts.text(40, 120))


def _genai_span(
    span: Any, plan: SpanPlan, trace: dict[str, Any], texts: common.TextSource, rng: random.Random
) -> None:
    """OpenTelemetry GenAI semantic conventions (as instrumentation libraries emit them)."""
    attrs = span.attributes
    put = _set_attr
    put(attrs, "user.id", trace["user"])
    put(attrs, "session.id", trace["session"])
    if plan.k == 0:
        span.name = f"invoke_agent {trace['name']}"
        put(attrs, "gen_ai.operation.name", "invoke_agent")
        put(attrs, "gen_ai.agent.name", trace["name"])
        put(attrs, "gen_ai.input.messages", _json([_part("user", texts.text(500, 2000))]))
        put(attrs, "gen_ai.output.messages", _json([_part("assistant", texts.text(500, 2000))]))
    elif plan.generation:
        model, params = rng.choice(common._MODELS)
        system = rng.choice(common._SYSTEM_PROMPTS)
        user = texts.text(max(1, 500 - len(system)), 2000 - len(system))
        answer = texts.text(500, 2000)
        span.name = f"chat {model}"
        span.kind = 3  # CLIENT
        put(attrs, "gen_ai.operation.name", "chat")
        put(attrs, "gen_ai.provider.name", "openai")
        put(attrs, "gen_ai.request.model", model)
        put(attrs, "gen_ai.response.model", model)
        put(attrs, "gen_ai.response.id", f"chatcmpl-{rng.getrandbits(64):016x}")
        for name, value in params.items():
            put(attrs, f"gen_ai.request.{name}", value)
        put(attrs, "gen_ai.usage.input_tokens", (len(system) + len(user)) // 4)
        put(attrs, "gen_ai.usage.output_tokens", len(answer) // 4)
        put(attrs, "gen_ai.response.finish_reasons", ["stop"])
        put(attrs, "gen_ai.system_instructions", _json([{"type": "text", "content": system}]))
        put(attrs, "gen_ai.input.messages", _json([_part("user", user)]))
        put(attrs, "gen_ai.output.messages", _json([_part("assistant", answer, finish="stop")]))
    else:
        tool = rng.choice(common._SPAN_NAMES)
        span.name = f"execute_tool {tool}"
        put(attrs, "gen_ai.operation.name", "execute_tool")
        put(attrs, "gen_ai.tool.name", tool)
        put(attrs, "gen_ai.tool.call.id", f"call_{rng.getrandbits(48):012x}")
        put(attrs, "gen_ai.tool.call.arguments", _json({"query": texts.text(500, 2000)}))
        put(attrs, "gen_ai.tool.call.result", _json(texts.text(500, 2000)))


def _part(role: str, text: str, finish: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": text}]}
    if finish:
        message["finish_reason"] = finish
    return message


def build_bodies(
    first_seq: int, count: int, args: argparse.Namespace, tag: bytes, base_ns: int
) -> list[RequestBody]:
    jobs = [
        (
            seq,
            args.traces_per_request,
            tag,
            args.seed,
            args.style,
            args.compression,
            args.gzip_level,
            base_ns,
        )
        for seq in range(first_seq, first_seq + count)
    ]
    workers = min(os.cpu_count() or 1, 8, count)
    if workers <= 1 or count < 4:
        return [build_request(*job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_build_job, jobs, chunksize=max(1, count // (workers * 4))))


def _build_job(job: tuple[Any, ...]) -> RequestBody:
    return build_request(*job)


# --------------------------------------------------------------------------------------------
# Targets: what is measured, how acknowledged spans are read back and counted
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    kind: str  # spyglass | phoenix | otlp (any other OTLP/HTTP receiver: acknowledgement only)
    label: str  # e.g. "spyglass", "phoenix"
    db: str  # sqlite | postgres | "?"
    base_url: str
    path: str
    headers: dict[str, str]
    database_url: str | None  # SQLAlchemy URL for counting rows
    server_pid: int | None
    project: str = "default"  # Phoenix project for the read-after-ack check
    server: common.ServerProcess | None = None

    @property
    def ack_is_readable(self) -> bool:
        return self.kind == "spyglass"


class PostgresCpuExcept(common.PostgresCpu):
    """PostgreSQL CPU as in ingest.py, with the benchmark's own polling backend not counted
    as the server's (it is put under "bench")."""

    def __init__(self, user: str, database: str, exclude: set[int]) -> None:
        super().__init__(user, database)
        self.exclude = exclude

    def snapshot(self) -> dict[int, tuple[str, int]]:
        return {
            pid: ("bench" if pid in self.exclude else category, ticks)
            for pid, (category, ticks) in super().snapshot().items()
        }


class RowCounter:
    """Counts a run's spans (and traces) in the target's own database."""

    def __init__(self, target: Target) -> None:
        from sqlalchemy import create_engine, text

        assert target.database_url
        self.kind = target.kind
        # One connection, reused by every poll; its backend is left out of the database CPU.
        self.engine = create_engine(target.database_url, pool_size=1, max_overflow=0)
        self.backend_pid: int | None = None
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                self.backend_pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        if target.kind == "phoenix":
            self.span_sql = text(
                "SELECT count(*) FROM spans WHERE span_id >= :lo AND span_id < :hi"
            )
            self.trace_sql = text(
                "SELECT count(*) FROM traces WHERE trace_id >= :lo AND trace_id < :hi"
            )
            self.max_sql = text("SELECT coalesce(max(id), 0) FROM spans")
        else:
            self.span_sql = text("SELECT count(*) FROM observations WHERE id >= :lo AND id < :hi")
            self.trace_sql = text("SELECT count(*) FROM traces WHERE id >= :lo AND id < :hi")
            self.max_sql = None

    def count(
        self, spans: tuple[str, str], traces: tuple[str, str] | None = None
    ) -> tuple[int, int | None]:
        with self.engine.connect() as conn:
            n_spans = conn.execute(self.span_sql, {"lo": spans[0], "hi": spans[1]}).scalar_one()
            n_traces = (
                conn.execute(self.trace_sql, {"lo": traces[0], "hi": traces[1]}).scalar_one()
                if traces
                else None
            )
        return int(n_spans), (int(n_traces) if n_traces is not None else None)

    def max_rowid(self) -> int | None:
        """Phoenix: the highest span row id, a cheap (index) lower bound of rows inserted."""
        if self.max_sql is None:
            return None
        with self.engine.connect() as conn:
            return int(conn.execute(self.max_sql).scalar_one())

    def wait_until(
        self,
        expected: int,
        spans: tuple[str, str],
        *,
        timeout: float,
        interval: float = 0.02,
        rowid_base: int | None = None,
    ) -> tuple[float | None, int]:
        """Poll until `expected` spans of the range are stored: (time reached or None, count).

        For Phoenix the loop polls max(spans.id) (an index lookup) and confirms with an exact
        range count once it says enough rows may be there, so the polling costs the database
        next to nothing while it is still inserting."""
        deadline = time.perf_counter() + timeout
        last = 0
        while True:
            probe_ok = True
            if rowid_base is not None:
                top = self.max_rowid()
                probe_ok = top is not None and top - rowid_base >= expected
            if probe_ok:
                last, _ = self.count(spans)
                if last >= expected:
                    return time.perf_counter(), last
            if time.perf_counter() >= deadline:
                if not probe_ok:
                    last, _ = self.count(spans)
                return None, last
            time.sleep(interval)

    def close(self) -> None:
        self.engine.dispose()


# --------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------


@dataclass
class LoadStats:
    latencies: list[float] = field(default_factory=list)  # seconds, 200 answers only
    sent_at: list[float] = field(default_factory=list)  # perf_counter of each latency's request
    requests: int = 0  # HTTP requests sent, retries included
    ok: int = 0  # requests answered 200
    spans_ok: int = 0  # spans acknowledged (200, not in partialSuccess.rejectedSpans)
    spans_rejected: int = 0
    traces_ok: int = 0
    unavailable: int = 0  # 503/429 answers (retried)
    transport_errors: int = 0
    http_errors: Counter[int] = field(default_factory=Counter)
    gave_up: int = 0
    unsent: int = 0  # requests left when --max-seconds ran out
    stalled: str | None = None
    samples: list[str] = field(default_factory=list)
    verified: int = 0
    verify_failed: int = 0
    verify_notes: list[str] = field(default_factory=list)
    first_byte: float = 0.0  # perf_counter when the first request went out
    last_ack: float = 0.0  # perf_counter of the last 200
    end: float = 0.0  # perf_counter when the last request was answered (any way)
    acked_seqs: list[int] = field(default_factory=list)

    @property
    def failed_requests(self) -> int:
        return sum(self.http_errors.values()) + self.gave_up

    def note(self, text: str) -> None:
        if len(self.samples) < 5:
            self.samples.append(text)


def _rejected(response: httpx.Response) -> tuple[int, str]:
    """partialSuccess of an OTLP answer: (rejected spans, message)."""
    content_type = response.headers.get("content-type", "")
    if not response.content:
        return 0, ""
    try:
        if "json" in content_type:
            partial = orjson.loads(response.content).get("partialSuccess") or {}
            return int(partial.get("rejectedSpans") or 0), str(partial.get("errorMessage") or "")
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        reply = ExportTraceServiceResponse.FromString(response.content)
        return reply.partial_success.rejected_spans, reply.partial_success.error_message
    except Exception as exc:  # noqa: BLE001 - an odd answer is noted, not fatal
        return 0, f"unreadable answer ({type(exc).__name__})"


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(10.0, max(0.05, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


async def run_load(
    target: Target,
    bodies: list[RequestBody],
    clients: int,
    *,
    request_timeout: float,
    max_seconds: float | None,
    verify_samples: int = 0,
    progress: bool = False,
) -> LoadStats:
    stats = LoadStats()
    headers = {"Content-Type": PROTOBUF, **target.headers}
    if bodies and bodies[0].body[:2] == b"\x1f\x8b":
        headers["Content-Encoding"] = "gzip"
    timeout = httpx.Timeout(request_timeout, connect=10.0)
    queue = list(reversed(bodies))
    offers: asyncio.Queue[RequestBody] = asyncio.Queue(maxsize=1)
    done = asyncio.Event()
    step = max(1, len(bodies) // verify_samples) if verify_samples else 0
    deadline = math.inf
    offered = 0

    async def client() -> None:
        nonlocal deadline, offered
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=target.base_url, headers=headers, timeout=timeout, limits=limits
        ) as http:
            while queue and not stats.stalled:
                if time.perf_counter() >= deadline:
                    stats.unsent = len(queue)
                    queue.clear()
                    break
                item = queue.pop()
                first_sent = time.perf_counter()
                attempts = 0
                while True:
                    attempts += 1
                    stats.requests += 1
                    sent = time.perf_counter()
                    if not stats.first_byte:
                        stats.first_byte = sent
                        deadline = sent + max_seconds if max_seconds else math.inf
                    try:
                        response = await http.post(target.path, content=item.body)
                    except httpx.TimeoutException as exc:
                        stats.transport_errors += 1
                        stats.gave_up += 1
                        stats.stalled = stats.stalled or (
                            f"no answer within {request_timeout:g}s ({type(exc).__name__}); load stopped"
                        )
                        break
                    except httpx.TransportError as exc:
                        stats.transport_errors += 1
                        stats.note(f"transport error: {type(exc).__name__}: {exc}")
                        if attempts >= 5:
                            stats.gave_up += 1
                            stats.stalled = stats.stalled or (
                                f"server unreachable ({type(exc).__name__}); load stopped"
                            )
                            break
                        await asyncio.sleep(0.5)
                        continue
                    now = time.perf_counter()
                    if response.status_code in (429, 503):
                        stats.unavailable += 1
                        if now - first_sent > request_timeout:
                            stats.gave_up += 1
                            stats.stalled = stats.stalled or (
                                f"a request still refused with {response.status_code} after "
                                f"{request_timeout:g}s of retries; load stopped"
                            )
                            break
                        await asyncio.sleep(_retry_after(response))
                        continue
                    if response.status_code != 200:
                        stats.http_errors[response.status_code] += 1
                        stats.note(f"HTTP {response.status_code}: {response.text[:300]}")
                        break
                    rejected, message = _rejected(response)
                    stats.latencies.append(now - sent)
                    stats.sent_at.append(sent)
                    stats.ok += 1
                    stats.last_ack = now
                    stats.acked_seqs.append(item.seq)
                    stats.spans_ok += item.spans - rejected
                    stats.spans_rejected += rejected
                    stats.traces_ok += item.traces
                    if rejected or message:
                        stats.note(f"partial success: {rejected} rejected: {message[:300]}")
                    elif (
                        step
                        and item.seq % step == 0
                        and offered < verify_samples
                        and offers.empty()
                    ):
                        offers.put_nowait(item)
                        offered += 1
                    break
                stats.end = time.perf_counter()

    async def verifier() -> None:
        verify_headers = {k: v for k, v in target.headers.items() if k.lower() == "authorization"}
        async with httpx.AsyncClient(
            base_url=target.base_url, headers=verify_headers, timeout=timeout
        ) as http:
            while True:
                getter = asyncio.ensure_future(offers.get())
                stopper = asyncio.ensure_future(done.wait())
                await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    stopper.cancel()
                    return
                stopper.cancel()
                item = getter.result()
                problem = await _read_back(http, target, item)
                if problem is None:
                    stats.verified += 1
                else:
                    stats.verify_failed += 1
                    if len(stats.verify_notes) < 3:
                        stats.verify_notes.append(problem)

    async def reporter(started: float) -> None:
        last_t, last_spans = started, 0
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), 5.0)
            except TimeoutError:
                now = time.perf_counter()
                rate = (stats.spans_ok - last_spans) / (now - last_t)
                print(
                    f"    {now - started:5.1f}s  {rate:9,.0f} spans/s acknowledged   "
                    f"{stats.spans_ok:,} so far, {stats.unavailable} refused (503/429)",
                    flush=True,
                )
                last_t, last_spans = now, stats.spans_ok

    side = []
    if verify_samples and target.kind in ("spyglass", "phoenix"):
        side.append(asyncio.create_task(verifier()))
    if progress:
        side.append(asyncio.create_task(reporter(time.perf_counter())))
    try:
        await asyncio.gather(*(client() for _ in range(clients)))
    finally:
        done.set()
        for task in side:
            try:
                await asyncio.wait_for(task, 60)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
    return stats


async def _read_back(http: httpx.AsyncClient, target: Target, item: RequestBody) -> str | None:
    """Reads one trace of a just-acknowledged request through the server's API; None if all
    its spans are there, else what is wrong."""
    trace = item.sample_trace
    try:
        if target.kind == "spyglass":
            response = await http.get(f"/api/public/traces/{trace}")
            if response.status_code != 200:
                return f"trace {trace}: HTTP {response.status_code} right after its 200"
            got = {o.get("id") for o in orjson.loads(response.content).get("observations", [])}
        else:
            response = await http.get(
                f"/v1/projects/{target.project}/spans", params={"trace_id": trace, "limit": 100}
            )
            if response.status_code != 200:
                return f"trace {trace}: HTTP {response.status_code} right after its 200"
            got = {
                (s.get("context") or {}).get("span_id")
                for s in orjson.loads(response.content).get("data", [])
            }
    except httpx.HTTPError as exc:
        return f"trace {trace}: {type(exc).__name__}"
    missing = set(item.sample_spans) - got
    if missing:
        return f"trace {trace}: {len(missing)} of {len(item.sample_spans)} spans not readable right after its 200"
    return None


# --------------------------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    target: str
    db: str
    stats: LoadStats = field(default_factory=LoadStats)
    readable_at: float | None = None  # perf_counter when all acknowledged spans were readable
    readable_how: str = ""
    stored: int | None = None  # spans of the measured requests counted in the database
    stored_traces: int | None = None
    server_cpu_s: float | None = None
    db_cpu_s: float | None = None
    pg_cpu: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    client_cpu_s: float = 0.0
    version: str = ""
    log_problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ack_seconds(self) -> float:
        s = self.stats
        return s.last_ack - s.first_byte if s.last_ack else 0.0

    @property
    def readable_seconds(self) -> float | None:
        return self.readable_at - self.stats.first_byte if self.readable_at else None

    @property
    def ack_rate(self) -> float | None:
        return self.stats.spans_ok / self.ack_seconds if self.ack_seconds > 0 else None

    @property
    def readable_rate(self) -> float | None:
        seconds = self.readable_seconds
        return self.stats.spans_ok / seconds if seconds else None

    @property
    def lag(self) -> float | None:
        return self.readable_at - self.stats.last_ack if self.readable_at else None

    def percentile_ms(self, q: float) -> float | None:
        data = sorted(self.stats.latencies)
        if not data:
            return None
        return data[min(len(data) - 1, max(0, math.ceil(q * len(data)) - 1))] * 1000

    def per_span_us(self, seconds: float | None) -> float | None:
        if seconds is None or not self.stats.spans_ok:
            return None
        return seconds * 1e6 / self.stats.spans_ok


def measure(
    args: argparse.Namespace,
    target: Target,
    warmup: list[RequestBody],
    bodies: list[RequestBody],
    tag: bytes,
) -> Result:
    result = Result(target=target.label, db=target.db)
    n_spans = sum(b.spans for b in bodies)
    avg_raw = sum(b.raw_size for b in bodies) / len(bodies)
    avg_sent = sum(len(b.body) for b in bodies) / len(bodies)
    print(
        f"\n== {target.label} on {target.db}: {args.clients} clients, {len(bodies)} requests of "
        f"{args.traces_per_request} traces (avg {n_spans / len(bodies):.0f} spans, "
        f"{avg_raw / 1024:.0f} KiB protobuf, {avg_sent / 1024:.0f} KiB sent) -> "
        f"{target.base_url}{target.path}",
        flush=True,
    )
    counter = RowCounter(target) if target.database_url else None
    try:
        return _measure(args, target, warmup, bodies, tag, counter, result)
    finally:
        if counter is not None:
            counter.close()


def _measure(
    args: argparse.Namespace,
    target: Target,
    warmup: list[RequestBody],
    bodies: list[RequestBody],
    tag: bytes,
    counter: RowCounter | None,
    result: Result,
) -> Result:
    pg = None
    if target.database_url and target.database_url.startswith("postgresql"):
        from sqlalchemy.engine.url import make_url

        parsed = make_url(target.database_url)
        if parsed.host in (None, "", "localhost", "127.0.0.1", "::1"):
            own = {counter.backend_pid} if counter and counter.backend_pid else set()
            pg = PostgresCpuExcept(
                parsed.username or "postgres", parsed.database or "postgres", own
            )

    if warmup:
        print(f"    warm-up: {len(warmup)} requests ...", flush=True)
        warm = asyncio.run(
            run_load(
                target, warmup, args.clients, request_timeout=args.request_timeout, max_seconds=None
            )
        )
        if warm.ok == 0 or warm.stalled:
            raise common.BenchFailed(
                "warm-up failed: "
                + "; ".join(
                    ([warm.stalled] if warm.stalled else []) + warm.samples[:3] or ["(no detail)"]
                )
            )
        if counter is not None and not target.ack_is_readable:
            # Start the measurement with the warm-up stored, not still being inserted.
            lo_seq, hi_seq = warmup[0].seq, warmup[-1].seq + 1
            reached, got = counter.wait_until(
                warm.spans_ok, span_id_range(tag, lo_seq, hi_seq), timeout=args.readable_timeout
            )
            if reached is None:
                print(
                    f"      ! only {got:,} of {warm.spans_ok:,} warm-up spans became readable",
                    flush=True,
                )
        time.sleep(0.5)

    first_seq, end_seq = bodies[0].seq, bodies[-1].seq + 1
    spans_range = span_id_range(tag, first_seq, end_seq)
    rowid_base = counter.max_rowid() if counter is not None else None
    print(
        f"    measuring: {len(bodies)} requests, {sum(b.spans for b in bodies):,} spans"
        + (f" (at most {args.max_seconds:g}s)" if args.max_seconds else "")
        + " ...",
        flush=True,
    )
    sampler = common.ProcSampler(target.server_pid, pg)
    cpu0 = common.tree_cpu_ticks(target.server_pid) if target.server_pid else None
    client0 = time.process_time()
    sampler.begin()
    try:
        stats = asyncio.run(
            run_load(
                target,
                bodies,
                args.clients,
                request_timeout=args.request_timeout,
                max_seconds=args.max_seconds,
                verify_samples=args.verify_samples,
                progress=not args.quiet,
            )
        )
        result.stats = stats
        # Until readable: for Spyglass the last 200 (checked by one count right away); for a
        # server storing in the background, the poll that first finds every acknowledged span.
        if counter is None:
            result.readable_how = "no database to count in (--database-url)"
            if target.ack_is_readable and stats.last_ack:
                result.readable_at = stats.last_ack
                result.readable_how = "at the last 200 (not counted: no --database-url)"
        elif stats.spans_ok:
            if target.ack_is_readable:
                got, _ = counter.count(spans_range)
                if got >= stats.spans_ok:
                    result.readable_at = stats.last_ack
                    result.readable_how = (
                        "at the last 200 (all rows found by the count right after)"
                    )
                else:
                    print(
                        f"      ! only {got:,} of {stats.spans_ok:,} acknowledged spans stored at the end of the load; polling",
                        flush=True,
                    )
            if result.readable_at is None:
                reached, got = counter.wait_until(
                    stats.spans_ok,
                    spans_range,
                    timeout=args.readable_timeout,
                    interval=args.poll_interval,
                    rowid_base=rowid_base,
                )
                result.readable_at = reached
                result.readable_how = (
                    f"polled the database every {args.poll_interval * 1000:g} ms after the last 200"
                    if reached
                    else f"NOT all readable after {args.readable_timeout:g}s: {got:,} of {stats.spans_ok:,}"
                )
    finally:
        pg_used = sampler.finish()
    cpu1 = common.tree_cpu_ticks(target.server_pid) if target.server_pid else None
    result.client_cpu_s = time.process_time() - client0
    if cpu0 is not None and cpu1 is not None:
        result.server_cpu_s = (cpu1 - cpu0) / common.CLK_TCK
    if pg is not None:
        result.pg_cpu = pg_used
        result.db_cpu_s = pg_used.get("ours", 0.0) + pg_used.get("shared", 0.0)
    if target.server_pid:
        hwm = common.tree_status_kb(target.server_pid, "VmHWM")
        result.peak_rss_mb = hwm / 1024 if hwm else None
    if counter is not None:
        try:
            result.stored, result.stored_traces = counter.count(
                spans_range, trace_id_range(tag, first_seq, end_seq)
            )
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            stats.note(f"could not count rows: {type(exc).__name__}: {exc}")
    if target.server is not None:
        result.log_problems = target.server.log_problems()
    print_detail(result, target)
    return result


# --------------------------------------------------------------------------------------------
# Servers started by the script
# --------------------------------------------------------------------------------------------


class PhoenixProcess(common.ServerProcess):
    """`phoenix serve` in a fresh working directory, on SQLite there or on PostgreSQL."""

    def __init__(self, executable: str, pg_url: str | None, port: int, data_dir: Path) -> None:
        super().__init__(pg_url or "", port, data_dir)
        self.executable = executable

    def start(self, timeout: float = 240.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
        env.update(
            {
                "PHOENIX_WORKING_DIR": str(self.data_dir),
                "PHOENIX_HOST": "127.0.0.1",
                "PHOENIX_PORT": str(self.port),
                "PHOENIX_GRPC_PORT": str(common.free_port()),
                "PHOENIX_TELEMETRY_ENABLED": "false",
            }
        )
        if self.database_url:
            env["PHOENIX_SQL_DATABASE_URL"] = self.database_url
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [self.executable, "serve"],
                cwd=self.data_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise common.BenchFailed(
                    f"phoenix exited with status {self.proc.returncode} during start:\n"
                    + self.log_tail()
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise common.BenchFailed(f"phoenix not healthy after {timeout:.0f}s:\n" + self.log_tail())

    def log_problems(self) -> list[str]:
        """Only what Phoenix logs once it is up: its start-up prints migration SQL (with
        'ERROR' inside CHECK constraints) and, offline, failed downloads of optional parts."""
        problems = super().log_problems()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return problems
        marker = "Application startup complete"
        if marker not in text:
            return problems
        after = set(text[text.index(marker) :].splitlines())
        return [line for line in problems if line in after]


def phoenix_version(executable: str) -> str:
    python = Path(executable).parent / "python"
    try:
        out = subprocess.run(
            [
                str(python),
                "-c",
                "import importlib.metadata as m; print(m.version('arize-phoenix'))",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def spyglass_version() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(common.REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


@contextmanager
def started_target(args: argparse.Namespace, kind: str, db: str) -> Iterator[Target]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"{kind}-otlp-bench-{db}-"))
    server: common.ServerProcess | None = None
    try:
        with _database(args, kind, db, data_dir) as (server_url, count_url):
            port = common.free_port()
            if kind == "spyglass":
                server = common.ServerProcess(server_url, port, data_dir, args.server_env)
                headers = {
                    "Authorization": common._basic(
                        common.DEFAULT_PUBLIC_KEY, common.DEFAULT_SECRET_KEY
                    ),
                    **_sdk_headers(args),
                }
                path = SPYGLASS_PATH
            else:
                server = PhoenixProcess(
                    args.phoenix, server_url if db == "postgres" else None, port, data_dir
                )
                headers = _sdk_headers(args)
                path = PHOENIX_PATH
            print(f"\nstarting {kind} on {db} ({common._safe(server_url)}) ...", flush=True)
            t0 = time.perf_counter()
            try:
                server.start()
                print(f"    up in {time.perf_counter() - t0:.1f}s (pid {server.pid})", flush=True)
                yield Target(
                    kind=kind,
                    label=kind,
                    db=db,
                    base_url=server.url,
                    path=path,
                    headers=headers,
                    database_url=count_url,
                    server_pid=server.pid,
                    server=server,
                )
            finally:
                server.stop()
    finally:
        if args.keep:
            print(f"    kept data directory {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def _sdk_headers(args: argparse.Namespace) -> dict[str, str]:
    """Headers the Langfuse SDK's exporter adds next to the Basic credentials."""
    if args.style != "langfuse":
        return {}
    return {
        "x-langfuse-sdk-name": "python",
        "x-langfuse-sdk-version": SDK_VERSION,
        "x-langfuse-public-key": args.public_key or common.DEFAULT_PUBLIC_KEY,
        "x-langfuse-ingestion-version": "4",
    }


@contextmanager
def _database(
    args: argparse.Namespace, kind: str, db: str, data_dir: Path
) -> Iterator[tuple[str, str]]:
    """(URL for the server, SQLAlchemy URL for counting)."""
    if db == "sqlite":
        path = data_dir / ("spyglass.db" if kind == "spyglass" else "phoenix.db")
        yield (f"sqlite:///{path}", f"sqlite:///{path}")
        return
    from sqlalchemy.engine.url import make_url

    name = args.pg_database if kind == "spyglass" else args.phoenix_pg_database
    with common.postgres_database(args.pg_admin_url, name, args.keep) as url:
        if kind == "spyglass":
            yield url, url
        else:
            plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            yield plain, url


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

_fmt = common._fmt


def print_detail(r: Result, target: Target) -> None:
    s = r.stats
    errors = ", ".join(f"{n} × HTTP {code}" for code, n in sorted(s.http_errors.items())) or "none"
    print(
        f"    requests {s.requests:,}: {s.ok:,} answered 200, {s.unavailable:,} refused with 503/429 "
        f"(retried), other HTTP errors: {errors}, {s.transport_errors:,} transport errors"
        + (f", {s.unsent} not sent (--max-seconds)" if s.unsent else "")
    )
    if s.stalled:
        print(f"      ! STALLED: {s.stalled}")
    print(
        f"    acknowledged         {s.spans_ok:,} spans ({s.spans_rejected:,} rejected) in "
        f"{r.ack_seconds:.2f}s from the first byte = {_fmt(r.ack_rate)} spans/s"
    )
    if r.readable_seconds is not None:
        print(
            f"    readable             all {s.spans_ok:,} after {r.readable_seconds:.2f}s = "
            f"{_fmt(r.readable_rate)} spans/s ({r.readable_how}; {r.lag:.2f}s after the last 200)"
        )
    else:
        print(f"    readable             — ({r.readable_how})")
    print(
        f"    latency              p50 {_fmt(r.percentile_ms(0.5), ',.1f')} ms, "
        f"p90 {_fmt(r.percentile_ms(0.9), ',.1f')} ms, p99 {_fmt(r.percentile_ms(0.99), ',.1f')} ms, "
        f"max {_fmt(r.percentile_ms(1.0), ',.1f')} ms"
    )
    slowest = sorted(zip(s.latencies, s.sent_at), reverse=True)[:3]
    if slowest and len(s.latencies) >= 10:
        print(
            "    slowest requests     "
            + ", ".join(
                f"{lat * 1000:,.0f} ms (sent at {at - s.first_byte:.1f}s)" for lat, at in slowest
            )
        )
    checked = s.verified + s.verify_failed
    if checked:
        print(
            f"    read right after 200 {s.verified}/{checked} sampled traces had all their spans "
            f"({'GET /api/public/traces/{id}' if target.kind == 'spyglass' else 'GET /v1/projects/default/spans?trace_id=…'})"
        )
        for note in s.verify_notes:
            print(f"      ! {note}")
    if r.stored is not None:
        verdict = (
            "ok"
            if r.stored == s.spans_ok
            else ("MISSING" if r.stored < s.spans_ok else "MORE (failed requests stored?)")
        )
        print(
            f"    database rows        {r.stored:,} spans stored / {s.spans_ok:,} acknowledged  "
            f"[{verdict}]; {r.stored_traces:,} traces / {s.traces_ok:,}"
        )
    if r.server_cpu_s is not None:
        window = r.readable_seconds or r.ack_seconds
        print(
            f"    server CPU           {r.server_cpu_s:.2f}s = {_fmt(r.per_span_us(r.server_cpu_s))} µs/span "
            f"({r.server_cpu_s / window:.2f} cores, first byte → readable)"
        )
    if r.pg_cpu:
        ours, shared, other = (r.pg_cpu.get(k, 0.0) for k in ("ours", "shared", "other"))
        print(
            f"    PostgreSQL CPU       {r.db_cpu_s:.2f}s = {_fmt(r.per_span_us(r.db_cpu_s))} µs/span "
            f"(benchmark database backends {ours:.2f}s + shared background {shared:.2f}s; "
            f"not counted: this script's row-count connection {r.pg_cpu.get('bench', 0.0):.2f}s)"
        )
        if other > 0.05 * max(r.db_cpu_s or 0, 0.01):
            print(
                f"      ! other databases' backends used {other:.2f}s CPU meanwhile (not counted; "
                "they compete for the same cores)"
            )
    elif r.db == "sqlite" and r.server_cpu_s is not None:
        print("    database CPU         (SQLite runs inside the server process: included above)")
    if r.peak_rss_mb is not None:
        print(f"    server memory        peak RSS {r.peak_rss_mb:,.0f} MB (VmHWM)")
    print(f"    load generator CPU   {r.client_cpu_s:.2f}s")
    for sample in s.samples:
        print(f"      ! {sample}")
    common.print_log_problems(r.log_problems)


def print_table(results: list[Result], command: str, header: str) -> None:
    headers = [
        "server",
        "db",
        "spans",
        "ack spans/s",
        "readable spans/s",
        "lag s",
        "p50 ms",
        "p99 ms",
        "503s",
        "failed",
        "read@ack",
        "rows",
        "server µs/span",
        "db µs/span",
        "peak RSS MB",
    ]
    rows, notes = [], []
    for r in results:
        s = r.stats
        name = f"{r.target} {r.version}".strip()
        if r.error is not None:
            rows.append([name, r.db, "FAILED", *["—"] * (len(headers) - 3)])
            notes.append(f"{r.target} on {r.db}: {r.error.splitlines()[0][:300]}")
            continue
        if s.stalled:
            notes.append(f"{r.target} on {r.db}: {s.stalled}")
        checked = s.verified + s.verify_failed
        rows.append(
            [
                name,
                r.db,
                f"{s.spans_ok:,}",
                _fmt(r.ack_rate),
                _fmt(r.readable_rate),
                _fmt(r.lag, ".2f"),
                _fmt(r.percentile_ms(0.5), ",.0f"),
                _fmt(r.percentile_ms(0.99), ",.0f"),
                str(s.unavailable),
                str(s.failed_requests),
                f"{s.verified}/{checked}" if checked else "—",
                "—" if r.stored is None else ("ok" if r.stored == s.spans_ok else f"{r.stored:,}"),
                _fmt(r.per_span_us(r.server_cpu_s)),
                _fmt(
                    r.per_span_us(r.db_cpu_s) if r.db_cpu_s is not None else None,
                    none="in server" if r.db == "sqlite" and r.server_cpu_s is not None else "—",
                ),
                _fmt(r.peak_rss_mb),
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = "  ".join(
        h.rjust(w) if i > 1 else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths))
    )
    print("\n" + header)
    print(line)
    print("-" * len(line))
    for row in rows:
        print(
            "  ".join(
                c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
            )
        )
    for note in notes:
        print(f"! {note}")
    compare(results)
    print(f"\ncommand: {command}")


def compare(results: list[Result]) -> None:
    by_key = {(r.target, r.db): r for r in results if r.error is None}
    lines = []
    for db in ("sqlite", "postgres"):
        ours, peer = by_key.get(("spyglass", db)), by_key.get(("phoenix", db))
        if ours is None or peer is None:
            continue
        parts = []
        for label, a, b in (
            ("readable spans/s", ours.readable_rate, peer.readable_rate),
            ("acknowledged spans/s", ours.ack_rate, peer.ack_rate),
        ):
            if a and b:
                parts.append(f"{label} {a:,.0f} vs {b:,.0f} = {a / b:.2f}×")
            else:
                parts.append(f"{label} {_fmt(a)} vs {_fmt(b)}")
        cpu_a, cpu_b = ours.per_span_us(ours.server_cpu_s), peer.per_span_us(peer.server_cpu_s)
        if cpu_a and cpu_b:
            total_a = cpu_a + (ours.per_span_us(ours.db_cpu_s) or 0)
            total_b = cpu_b + (peer.per_span_us(peer.db_cpu_s) or 0)
            parts.append(f"CPU µs/span (server + db) {total_a:,.0f} vs {total_b:,.0f}")
        lines.append(
            f"  {db:8s} Spyglass vs Phoenix ({ours.stats.spans_ok:,} vs {peer.stats.spans_ok:,} spans): "
            + "; ".join(parts)
        )
    if lines:
        print("\nside by side (same request bodies, same machine, one after the other):")
        print("\n".join(lines))


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="OTLP/HTTP ingestion benchmark: spans/s from the first byte until readable.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--targets",
        default="spyglass",
        help="servers to start, comma-separated: spyglass, phoenix (measured one after the other "
        "with the same request bodies)",
    )
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--clients", type=int, default=4, help="concurrent exporters")
    p.add_argument(
        "--requests", type=int, default=150, help="measured export requests per Spyglass run"
    )
    p.add_argument(
        "--phoenix-requests",
        type=int,
        default=12,
        help="measured export requests per Phoenix run: the first ones of the same bodies "
        "(Phoenix stores a few hundred spans/s, so the default keeps its runs near 20 s)",
    )
    p.add_argument(
        "--traces-per-request",
        type=int,
        default=50,
        help="traces per export (5–10 spans each: 50 ≈ 375 spans; the SDK's batches hold up to 512)",
    )
    p.add_argument("--warmup-requests", type=int, default=2, help="unmeasured requests first")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=30.0,
        help="stop sending new requests after this long (0: send them all)",
    )
    p.add_argument(
        "--style", choices=["langfuse", "genai"], default="langfuse", help="span attributes"
    )
    p.add_argument("--compression", choices=["gzip", "none"], default="gzip")
    p.add_argument(
        "--gzip-level", type=int, default=9, help="9 is what GzipFile (the OTLP exporter) uses"
    )
    p.add_argument(
        "--verify-samples", type=int, default=20, help="traces read back right after their 200"
    )
    p.add_argument(
        "--readable-timeout",
        type=float,
        default=180.0,
        help="seconds to wait after the last 200 for all acknowledged spans to be stored",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        default=0.02,
        help="seconds between the database polls that wait for a background writer (Phoenix)",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        default=60.0,
        help="seconds without an answer (or of 503s) after which the load stops",
    )
    p.add_argument("--seed", type=int, default=1, help="payload random seed")
    p.add_argument("--phoenix", default=DEFAULT_PHOENIX, help="the `phoenix` executable")
    p.add_argument("--pg-admin-url", default=common.DEFAULT_PG_ADMIN)
    p.add_argument("--pg-database", default="spyglass_bench_otlp", help="Spyglass's (re-created)")
    p.add_argument("--phoenix-pg-database", default="phoenix_bench", help="Phoenix's (re-created)")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the started Spyglass server (repeatable)",
    )
    p.add_argument("--keep", action="store_true", help="keep data directories and databases")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    ext = p.add_argument_group("a server that is already running (instead of starting them)")
    ext.add_argument(
        "--url", help="its base URL, e.g. http://127.0.0.1:3000 or http://127.0.0.1:6006"
    )
    ext.add_argument(
        "--kind",
        choices=["spyglass", "phoenix", "otlp"],
        default="spyglass",
        help="what it is: decides the path, the read-after-ack check and how rows are counted "
        "(otlp: any receiver, acknowledgements only)",
    )
    ext.add_argument("--path", help="OTLP traces path (default: by --kind)")
    ext.add_argument("--public-key", default=os.environ.get("LANGFUSE_PUBLIC_KEY"))
    ext.add_argument("--secret-key", default=os.environ.get("LANGFUSE_SECRET_KEY"))
    ext.add_argument(
        "--header", action="append", default=[], metavar="NAME:VALUE", help="extra request header"
    )
    ext.add_argument(
        "--database-url",
        help="its SQLAlchemy database URL: enables the row count and, for Phoenix, the "
        "time-until-readable poll",
    )
    ext.add_argument(
        "--server-pid", type=int, help="its process id: enables CPU and memory figures"
    )
    ext.add_argument("--label", help="name in the table (default: --kind)")
    args = p.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - {"spyglass", "phoenix"}
    if unknown:
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if min(args.clients, args.requests, args.phoenix_requests, args.traces_per_request) < 1:
        p.error(
            "--clients, --requests, --phoenix-requests and --traces-per-request must be at least 1"
        )
    if args.warmup_requests < 0:
        p.error("--warmup-requests must not be negative")
    if args.traces_per_request > 65535 or _needed(args) + args.warmup_requests >= 1 << 24:
        p.error("too many traces per request or requests for the id scheme")
    env = {}
    for item in args.server_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            p.error(f"--server-env wants NAME=VALUE, got {item!r}")
        env[name] = value
    args.server_env = env
    headers = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep:
            p.error(f"--header wants NAME:VALUE, got {item!r}")
        headers[name.strip()] = value.strip()
    args.header = headers
    if args.max_seconds is not None and args.max_seconds <= 0:
        args.max_seconds = None
    if (
        args.url
        and args.kind == "spyglass"
        and not (args.public_key and args.secret_key)
        and "Authorization" not in headers
    ):
        p.error("--url with --kind spyglass needs --public-key and --secret-key")
    return args


def _needed(args: argparse.Namespace) -> int:
    """Measured request bodies to build: enough for every target."""
    if args.url:
        return args.phoenix_requests if args.kind == "phoenix" else args.requests
    return max(
        args.requests if "spyglass" in args.targets else 0,
        args.phoenix_requests if "phoenix" in args.targets else 0,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(argv)

    def _terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)

    tag = uuid.uuid4().bytes[:4]
    while tag[:2] == b"\0\0":
        tag = uuid.uuid4().bytes[:4]
    base_ns = time.time_ns() - 60 * 1_000_000_000
    total = args.warmup_requests + _needed(args)
    print(
        f"building {total} export requests ({args.style} style, {args.compression}) ...", flush=True
    )
    t0 = time.perf_counter()
    all_bodies = build_bodies(0, total, args, tag, base_ns)
    warmup, bodies = all_bodies[: args.warmup_requests], all_bodies[args.warmup_requests :]
    n_spans = sum(b.spans for b in bodies)
    n_gen = sum(b.generations for b in bodies)
    print(
        f"  done in {time.perf_counter() - t0:.1f}s: {n_spans:,} measured spans ({n_gen:,} generations), "
        f"{sum(b.raw_size for b in bodies) / 2**20:.0f} MiB protobuf, "
        f"{sum(len(b.body) for b in bodies) / 2**20:.0f} MiB sent; run tag {tag.hex()}",
        flush=True,
    )
    load = os.getloadavg()
    print(
        f"  load average before the runs: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )

    results: list[Result] = []
    versions = {"spyglass": spyglass_version()}
    if "phoenix" in args.targets and not args.url:
        if shutil.which(args.phoenix) is None:
            versions["phoenix"] = ""
        else:
            versions["phoenix"] = phoenix_version(args.phoenix)
    try:
        if args.url:
            results.append(run_external(args, warmup, bodies[: _needed(args)], tag))
        else:
            for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
                for kind in args.targets:
                    count = args.phoenix_requests if kind == "phoenix" else args.requests
                    result = run_started(args, kind, db, warmup, bodies[:count], tag)
                    result.version = versions.get(kind, "")
                    results.append(result)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        if results:
            print_table(results, command, _header(args, bodies))
        return 130
    print_table(results, command, _header(args, bodies))
    return 1 if any(r.error or r.stats.stalled for r in results) else 0


def _header(args: argparse.Namespace, bodies: list[RequestBody]) -> str:
    return (
        f"OTLP/HTTP protobuf ({args.compression}), {args.style} spans: requests of "
        f"{args.traces_per_request} traces ≈ {sum(b.spans for b in bodies) / len(bodies):.0f} spans, "
        f"{args.clients} clients; spans/s counted from the first byte"
    )


def run_started(
    args: argparse.Namespace,
    kind: str,
    db: str,
    warmup: list[RequestBody],
    bodies: list[RequestBody],
    tag: bytes,
) -> Result:
    if kind == "phoenix" and shutil.which(args.phoenix) is None:
        reason = f"phoenix executable {args.phoenix!r} not found (install it: see bench/README.md)"
        print(f"\n== phoenix on {db}: skipped: {reason}", flush=True)
        return Result(target=kind, db=db, error=reason)
    target: Target | None = None
    try:
        with started_target(args, kind, db) as target:
            return measure(args, target, warmup, bodies, tag)
    except common.BenchFailed as exc:
        print(f"    ! FAILED: {exc}", flush=True)
        if target is not None and target.server is not None:
            common.print_log_problems(target.server.log_problems())
        return Result(target=kind, db=db, error=str(exc))


def run_external(
    args: argparse.Namespace, warmup: list[RequestBody], bodies: list[RequestBody], tag: bytes
) -> Result:
    headers = dict(_sdk_headers(args) if args.kind == "spyglass" else {})
    if args.public_key and args.secret_key:
        headers["Authorization"] = common._basic(args.public_key, args.secret_key)
    headers.update(args.header)
    db = "?"
    if args.database_url:
        db = "postgres" if args.database_url.startswith("postgresql") else "sqlite"
    if args.db != "both":
        db = args.db
    target = Target(
        kind=args.kind,
        label=args.label or args.kind,
        db=db,
        base_url=args.url.rstrip("/"),
        path=args.path or (PHOENIX_PATH if args.kind == "phoenix" else SPYGLASS_PATH),
        headers=headers,
        database_url=args.database_url if args.kind != "otlp" else None,
        server_pid=args.server_pid,
    )
    try:
        return measure(args, target, warmup, bodies, tag)
    except common.BenchFailed as exc:
        print(f"    ! FAILED: {exc}", flush=True)
        return Result(target=target.label, db=db, error=str(exc))


if __name__ == "__main__":
    sys.exit(main())
