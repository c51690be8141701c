#!/usr/bin/env python3
"""Ingestion benchmark for Spyglass: throughput, latency and cost of `POST /api/public/ingestion`.

By default it starts its own server (`python -m server serve`) once on SQLite and once on
PostgreSQL, sends realistic Langfuse batches from several concurrent clients, and prints:

  * events/s accepted      events acknowledged with 201 inside a 207 answer, per second
  * spans/s readable       observations acknowledged per second; a 207 is only sent after the
                           commit, so an acknowledged span is readable (checked: see below)
  * p50 / p99 latency      of the ingestion requests that were answered 207
  * server CPU µs/span     CPU time (user+system) of the server process / spans acknowledged
  * DB CPU µs/span         PostgreSQL only: CPU of the backends of the bench database plus the
                           shared background processes (walwriter, checkpointer, ...)
  * peak RSS MB            the server process' high-water mark (VmHWM)

Checks that acknowledged spans are really readable: a verification client reads sampled
traces with `GET /api/public/traces/{id}` right after their acknowledgement during the run,
and at the end the observations of this run are counted in the database itself.

Run `python bench/ingest.py --help` for options; bench/README.md has examples.
Linux only (CPU and memory figures come from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "bench"
DEFAULT_PUBLIC_KEY = "pk-lf-bench"
DEFAULT_SECRET_KEY = "sk-lf-bench"
DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Stands for the batch sequence number inside a pre-built request body; replaced at send time
# so that every request carries ids never used before. "@" never occurs in the generated text.
SEQ_TOKEN = b"@S@"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --------------------------------------------------------------------------------------------
# Payloads
# --------------------------------------------------------------------------------------------

_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "at",
    "an",
    "which",
    "have",
    "not",
    "has",
    "were",
    "but",
    "all",
    "can",
    "more",
    "one",
    "also",
    "their",
    "its",
    "been",
    "there",
    "when",
    "would",
    "about",
    "into",
    "only",
    "model",
    "prompt",
    "token",
    "context",
    "retrieval",
    "answer",
    "question",
    "user",
    "assistant",
    "system",
    "tool",
    "call",
    "result",
    "document",
    "chunk",
    "embedding",
    "vector",
    "index",
    "search",
    "query",
    "ranking",
    "score",
    "latency",
    "cost",
    "customer",
    "order",
    "invoice",
    "refund",
    "shipping",
    "address",
    "account",
    "password",
    "reset",
    "subscription",
    "plan",
    "upgrade",
    "billing",
    "error",
    "timeout",
    "retry",
    "request",
    "response",
    "json",
    "schema",
    "field",
    "value",
    "summary",
    "report",
    "table",
    "chart",
    "revenue",
    "quarter",
    "growth",
    "forecast",
    "budget",
    "team",
    "project",
    "deadline",
    "meeting",
    "please",
    "could",
    "you",
    "explain",
    "why",
    "how",
    "what",
    "where",
    "which",
    "however",
    "therefore",
    "because",
    "although",
    "first",
    "second",
    "finally",
    "next",
    "then",
    "example",
    "note",
    "important",
    "consider",
    "step",
    "approach",
    "solution",
    "café",
    "naïve",
    "Zürich",
    "résumé",
    "façade",
    "déjà",
    "—",
    "“quoted”",
    "日本語",
    "données",
    "über",
    "straße",
]

_SYSTEM_PROMPTS = [
    "You are a helpful support assistant. Answer briefly and cite the documents you used.",
    "You are a careful analyst. Think step by step and return a JSON object.",
    "You are a coding assistant. Prefer small, well-tested changes.",
]
_MODELS = [
    ("gpt-4o-mini", {"temperature": 0.2, "max_tokens": 1024}),
    ("gpt-4o", {"temperature": 0.7, "max_tokens": 2048, "top_p": 0.95}),
    ("claude-3-5-sonnet-20241022", {"temperature": 0.0, "max_tokens": 4096}),
    ("llama-3.1-70b-instruct", {"temperature": 0.5, "max_tokens": 1024}),
]
_SPAN_NAMES = [
    "retrieve-documents",
    "rerank",
    "tool:web-search",
    "tool:sql-query",
    "parse-output",
    "guardrail-check",
    "cache-lookup",
    "format-answer",
]
_GEN_NAMES = ["plan", "answer", "summarise", "classify-intent", "extract-entities", "reflect"]


class TextSource:
    """Slices of a pre-generated word soup, so building payloads is cheap."""

    def __init__(self, rng: random.Random, size: int = 400_000) -> None:
        parts: list[str] = []
        n = 0
        while n < size:
            sentence = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 18)))
            sentence = sentence[0].upper() + sentence[1:] + rng.choice([". ", ". ", "? ", ".\n"])
            parts.append(sentence)
            n += len(sentence)
        self.corpus = "".join(parts)
        self.rng = rng

    def text(self, low: int, high: int) -> str:
        length = self.rng.randint(low, high)
        start = self.rng.randrange(0, len(self.corpus) - length)
        return self.corpus[start : start + length]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@dataclass(slots=True)
class TraceInfo:
    id: str  # contains SEQ_TOKEN
    observation_ids: list[str]  # contain SEQ_TOKEN


@dataclass(slots=True)
class BatchTemplate:
    body: bytes  # JSON request body; SEQ_TOKEN marks where the sequence number goes
    traces: list[TraceInfo]
    events: int
    observations: int
    generations: int


def build_trace(
    rng: random.Random, texts: TextSource, tag: str, t_index: int, base: datetime
) -> tuple[list[dict[str, Any]], TraceInfo, int]:
    """One trace-create event and 5–10 observation events (spans and generations)."""
    seq = SEQ_TOKEN.decode()
    trace_id = f"tr-{tag}-{seq}-{t_index}"
    start = base + timedelta(milliseconds=rng.randint(0, 5000))
    events: list[dict[str, Any]] = []
    trace_body = {
        "id": trace_id,
        "name": rng.choice(["support-chat", "rag-query", "agent-run", "nightly-report"]),
        "userId": f"user-{rng.randint(1, 500)}",
        "sessionId": f"session-{tag}-{rng.randint(1, 200)}",
        "input": {"question": texts.text(500, 2000)},
        "output": {"answer": texts.text(500, 2000)},
        "metadata": {"app": "bench", "release": "2025.1", "region": rng.choice(["eu", "us"])},
        "tags": rng.sample(
            ["bench", "prod", "agent", "rag", "beta", "mobile"], k=rng.randint(1, 3)
        ),
        "timestamp": _iso(start),
    }
    events.append(
        {
            "id": f"ev-{tag}-{seq}-{t_index}-T",
            "type": "trace-create",
            "timestamp": _iso(start),
            "body": trace_body,
        }
    )
    n_obs = rng.randint(5, 10)
    obs_ids: list[str] = []
    spans: list[str] = []  # ids of spans that may be parents
    generations = 0
    clock = start
    for k in range(n_obs):
        obs_id = f"ob-{tag}-{seq}-{t_index}-{k}"
        begin = clock + timedelta(milliseconds=rng.randint(1, 40))
        duration = timedelta(milliseconds=rng.randint(20, 3000))
        clock = begin + duration / 3
        level = rng.choices(["DEFAULT", "WARNING", "ERROR"], weights=[96, 3, 1])[0]
        if k == 0:
            kind, parent = "span-create", None
        else:
            kind = "generation-create" if rng.random() < 0.5 else "span-create"
            parent = rng.choice(spans)
        body: dict[str, Any] = {
            "id": obs_id,
            "traceId": trace_id,
            "parentObservationId": parent,
            "startTime": _iso(begin),
            "endTime": _iso(begin + duration),
            "metadata": {"component": "bench", "attempt": rng.randint(1, 3), "k": k},
            "level": level,
        }
        if level != "DEFAULT":
            body["statusMessage"] = texts.text(40, 120)
        if kind == "generation-create":
            generations += 1
            model, params = rng.choice(_MODELS)
            system = rng.choice(_SYSTEM_PROMPTS)
            user = texts.text(max(1, 500 - len(system)), 2000 - len(system))
            answer = texts.text(500, 2000)
            body.update(
                {
                    "name": rng.choice(_GEN_NAMES),
                    "input": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    "output": {"role": "assistant", "content": answer},
                    "model": model,
                    "modelParameters": params,
                    "usageDetails": {
                        "input": (len(system) + len(user)) // 4,
                        "output": len(answer) // 4,
                    },
                    "completionStartTime": _iso(
                        begin + timedelta(milliseconds=rng.randint(80, 900))
                    ),
                }
            )
        else:
            body.update(
                {
                    "name": "agent" if k == 0 else rng.choice(_SPAN_NAMES),
                    "input": {"query": texts.text(500, 2000), "top_k": rng.choice([3, 5, 10])},
                    "output": texts.text(500, 2000),
                }
            )
            spans.append(obs_id)
        events.append(
            {
                "id": f"ev-{tag}-{seq}-{t_index}-O{k}",
                "type": kind,
                "timestamp": _iso(begin),
                "body": body,
            }
        )
        obs_ids.append(obs_id)
    return events, TraceInfo(trace_id, obs_ids), generations


def build_pool(size: int, traces_per_batch: int, tag: str, seed: int) -> list[BatchTemplate]:
    rng = random.Random(seed)
    texts = TextSource(rng)
    base = datetime.now(UTC).replace(microsecond=0)
    pool = []
    for b in range(size):
        events: list[dict[str, Any]] = []
        infos: list[TraceInfo] = []
        generations = 0
        for t in range(traces_per_batch):
            trace_events, info, gens = build_trace(rng, texts, tag, b * traces_per_batch + t, base)
            events.extend(trace_events)
            infos.append(info)
            generations += gens
        body = orjson.dumps({"batch": events})
        pool.append(
            BatchTemplate(
                body=body,
                traces=infos,
                events=len(events),
                observations=sum(len(i.observation_ids) for i in infos),
                generations=generations,
            )
        )
    return pool


# --------------------------------------------------------------------------------------------
# /proc: CPU and memory
# --------------------------------------------------------------------------------------------


def proc_cpu_ticks(pid: int, children: bool = False) -> int | None:
    """utime+stime of a process (all its threads), in clock ticks; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    rest = stat[stat.rfind(")") + 2 :].split()
    ticks = int(rest[11]) + int(rest[12])
    if children:
        ticks += int(rest[13]) + int(rest[14])
    return ticks


def proc_status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (a server started through a shell, or with worker processes)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo.extend(int(child) for child in f.read().split())
        except OSError:
            continue
    return tree


def tree_cpu_ticks(pid: int) -> int | None:
    ticks = [proc_cpu_ticks(p) for p in process_tree(pid)]
    return sum(t for t in ticks if t is not None) if ticks[0] is not None else None


def tree_status_kb(pid: int, key: str) -> int | None:
    """Sum of a /proc status figure over pid and its descendants."""
    values = [proc_status_kb(p, key) for p in process_tree(pid)]
    return sum(v for v in values if v is not None) if values[0] is not None else None


_PG_SHARED = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "logical replication launcher",
    "stats collector",
    "archiver",
    "startup",
)


class PostgresCpu:
    """CPU of the PostgreSQL processes on this machine, split into those working for one
    database (its client backends, autovacuum and parallel workers), the shared background
    processes, and the rest (other databases' backends, which are not counted)."""

    def __init__(self, user: str, database: str) -> None:
        self._ours = re.compile(
            rf"(?:^|: ){re.escape(user)} {re.escape(database)} |autovacuum worker {re.escape(database)}\b"
        )
        self._parallel = re.compile(r"parallel worker for PID (\d+)")
        self._not_postgres: set[int] = set()

    def snapshot(self) -> dict[int, tuple[str, int]]:
        """pid → (category, ticks) with category in ours / shared / other."""
        procs: dict[int, tuple[str, str]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid in self._not_postgres:
                continue
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
                if comm != "postgres":
                    self._not_postgres.add(pid)
                    continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            procs[pid] = (comm, title)
        ours = {pid for pid, (_, title) in procs.items() if self._ours.search(title)}
        result: dict[int, tuple[str, int]] = {}
        for pid, (_, title) in procs.items():
            if not title.startswith("postgres:"):
                category = "shared"  # the postmaster itself (only its own time, not children's)
            elif pid in ours or (m := self._parallel.search(title)) and int(m.group(1)) in ours:
                category = "ours"
            elif any(name in title for name in _PG_SHARED):
                category = "shared"
            else:
                category = "other"
            ticks = proc_cpu_ticks(pid)
            if ticks is not None:
                result[pid] = (category, ticks)
        return result


class ProcSampler(threading.Thread):
    """Samples the server's RSS and the PostgreSQL processes' CPU while the load runs, so
    that backends which exit during the run still count with their last seen CPU time."""

    def __init__(
        self, server_pid: int | None, pg: PostgresCpu | None, interval: float = 0.2
    ) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.server_pid = server_pid
        self.pg = pg
        self.interval = interval
        self.peak_rss_kb = 0
        self.baseline: dict[int, tuple[str, int]] = {}
        self.last: dict[int, tuple[str, int]] = {}
        self._stop_event = threading.Event()

    def begin(self) -> None:
        if self.pg is not None:
            self.baseline = self.pg.snapshot()
            self.last = dict(self.baseline)
        self.start()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        if self.server_pid is not None:
            rss = tree_status_kb(self.server_pid, "VmRSS")
            if rss is not None:
                self.peak_rss_kb = max(self.peak_rss_kb, rss)
        if self.pg is not None:
            self.last.update(self.pg.snapshot())

    def finish(self) -> dict[str, float]:
        """Stop; CPU seconds used per PostgreSQL category since begin()."""
        self._stop_event.set()
        self.join()
        self._sample()
        used: Counter[str] = Counter()
        for pid, (category, ticks) in self.last.items():
            before = self.baseline.get(pid, (category, 0))[1]
            used[category] += max(0, ticks - before)
        return {k: v / CLK_TCK for k, v in used.items()}


# --------------------------------------------------------------------------------------------
# Server and database lifecycle
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`python -m server serve` in a fresh data directory; stopped (and reaped) on exit."""

    def __init__(
        self, database_url: str, port: int, data_dir: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.extra_env = extra_env or {}
        self.database_url = database_url
        self.port = port
        self.data_dir = data_dir
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 90.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPYGLASS_")}
        env.update(
            {
                "SPYGLASS_DATA_DIR": str(self.data_dir),
                "SPYGLASS_DATABASE_URL": self.database_url,
                "SPYGLASS_HOST": "127.0.0.1",
                "SPYGLASS_PORT": str(self.port),
                "SPYGLASS_INIT_PROJECT": PROJECT,
                "SPYGLASS_INIT_PUBLIC_KEY": DEFAULT_PUBLIC_KEY,
                "SPYGLASS_INIT_SECRET_KEY": DEFAULT_SECRET_KEY,
            }
        )
        env.update(self.extra_env)
        if (REPO_ROOT / "server" / "__init__.py").exists():
            # Benchmark the checkout this script lives in, whatever is installed.
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])
            )
        log = open(self.log_path, "wb")
        try:
            # cwd: the data dir, so no stray .env file is picked up; own session, so a Ctrl-C
            # reaches only this script, which then stops the server in order.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", "serve"],
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
                raise BenchFailed(
                    f"server exited with status {self.proc.returncode} during start:\n"
                    + self.log_tail()
                )
            try:
                if httpx.get(f"{self.url}/api/public/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise BenchFailed(f"server not healthy after {timeout:.0f}s:\n" + self.log_tail())

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def log_problems(self) -> list[str]:
        """Log lines that are neither startup chatter nor 2xx access lines."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        access = re.compile(r'" (\d{3}) ')
        problems = []
        for line in text.splitlines():
            if line.startswith(" ") or line.startswith("Traceback"):
                continue  # traceback bodies: the exception line after them is what counts
            m = access.search(line)
            if m and line.startswith("INFO:"):
                if not m.group(1).startswith("2"):
                    problems.append(line)
            elif re.search(
                r"WARNING|ERROR|CRITICAL|^\w[\w.]*(Error|Exception)\b|could not be stored|failed",
                line,
            ):
                problems.append(line)
        return problems


@contextmanager
def postgres_database(admin_url: str, name: str, keep: bool) -> Iterator[str]:
    """A fresh database `name` (dropped first if it exists); yields its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine.url import make_url

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"--pg-database must be a plain lower-case identifier, got {name!r}")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # No FORCE: if someone is connected (another benchmark run?), say so rather than
        # pull the database from under them.
        try:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
        except psycopg.errors.ObjectInUse:
            raise BenchFailed(
                f"database {name} is in use (another benchmark running?); "
                "wait for it or pass another --pg-database"
            ) from None
        conn.execute(f"CREATE DATABASE {name}")
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"    kept database {name}")
        else:
            try:
                with psycopg.connect(admin_url, autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {name}")
            except psycopg.Error as exc:
                print(f"    ! could not drop database {name}: {exc}", file=sys.stderr)


def count_in_database(database_url: str, tag: str) -> tuple[int, int]:
    """(traces, observations) of this run, counted in the database itself."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            traces = conn.execute(
                text("SELECT count(*) FROM traces WHERE id LIKE :p"), {"p": f"tr-{tag}-%"}
            ).scalar_one()
            observations = conn.execute(
                text("SELECT count(*) FROM observations WHERE id LIKE :p"), {"p": f"ob-{tag}-%"}
            ).scalar_one()
        return int(traces), int(observations)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------


@dataclass
class PhaseStats:
    latencies: list[float] = field(default_factory=list)  # seconds, 207 answers only
    requests: int = 0  # HTTP requests sent (including retried ones)
    batches_ok: int = 0  # batches answered 207
    unavailable: int = 0  # 503 answers (retried)
    transport_errors: int = 0
    http_errors: Counter[int] = field(default_factory=Counter)
    events_ok: int = 0
    events_failed: int = 0
    observations_ok: int = 0
    traces_ok: int = 0
    samples: list[str] = field(default_factory=list)  # first few error descriptions
    verified: int = 0
    verify_failed: int = 0
    verify_notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    gave_up: int = 0  # requests abandoned after transport errors or a timeout
    stalled: str | None = None  # why the phase was cut short

    @property
    def failed_requests(self) -> int:
        """Requests that ended without a 207 (503s are retried and not counted here)."""
        return sum(self.http_errors.values()) + self.gave_up

    def note(self, text: str) -> None:
        if len(self.samples) < 5:
            self.samples.append(text)


class BatchSource:
    """Hands out (sequence number, template) until the duration or the batch count is used up."""

    def __init__(
        self,
        pool: list[BatchTemplate],
        first_seq: int,
        *,
        batches: int | None,
        duration: float | None,
    ) -> None:
        self.pool = pool
        self.seq = first_seq
        self.end_seq = first_seq + batches if batches is not None else None
        self.duration = duration
        self.deadline = math.inf

    def begin(self) -> None:
        if self.duration is not None:
            self.deadline = time.perf_counter() + self.duration

    def stop(self) -> None:
        self.end_seq = self.seq

    def next(self) -> tuple[int, BatchTemplate] | None:
        if self.end_seq is not None and self.seq >= self.end_seq:
            return None
        if time.perf_counter() >= self.deadline:
            return None
        seq = self.seq
        self.seq += 1
        return seq, self.pool[seq % len(self.pool)]


def _seq_text(seq: int) -> str:
    return f"{seq:x}"


async def run_phase(
    base_url: str,
    auth_header: str,
    source: BatchSource,
    clients: int,
    *,
    request_timeout: float,
    verify_samples: int = 0,
    verify_interval: float = 0.0,
    progress: bool = False,
) -> PhaseStats:
    stats = PhaseStats()
    headers = {"Authorization": auth_header, "Content-Type": "application/json"}
    offers: asyncio.Queue[tuple[str, list[str]]] = asyncio.Queue(maxsize=1)
    done = asyncio.Event()
    timeout = httpx.Timeout(request_timeout, connect=10.0)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout) as http:
            while (job := source.next()) is not None:
                seq, template = job
                seq_bytes = _seq_text(seq).encode()
                body = template.body.replace(SEQ_TOKEN, seq_bytes)
                attempts = 0
                clean = False  # answered 207 with no event errors
                first_sent = time.perf_counter()
                while True:
                    attempts += 1
                    stats.requests += 1
                    sent = time.perf_counter()
                    try:
                        response = await http.post("/api/public/ingestion", content=body)
                    except httpx.TimeoutException as exc:
                        # The server stopped answering: the figures would mean nothing, so
                        # send nothing more and let the other clients finish.
                        stats.transport_errors += 1
                        stats.gave_up += 1
                        if stats.stalled is None:
                            stats.stalled = (
                                f"no answer within {request_timeout:g}s "
                                f"({type(exc).__name__}); load stopped"
                            )
                        source.stop()
                        break
                    except httpx.TransportError as exc:
                        stats.transport_errors += 1
                        stats.note(f"transport error: {type(exc).__name__}: {exc}")
                        if attempts >= 5:
                            stats.gave_up += 1
                            if stats.stalled is None:
                                stats.stalled = (
                                    f"server unreachable ({type(exc).__name__}); load stopped"
                                )
                            source.stop()
                            break
                        await asyncio.sleep(0.5)
                        continue
                    latency = time.perf_counter() - sent
                    if response.status_code == 503:
                        stats.unavailable += 1
                        if time.perf_counter() - first_sent > request_timeout:
                            stats.gave_up += 1
                            if stats.stalled is None:
                                stats.stalled = (
                                    f"a batch still refused with 503 after "
                                    f"{request_timeout:g}s of retries; load stopped"
                                )
                            source.stop()
                            break
                        await asyncio.sleep(_retry_after(response))
                        continue
                    if response.status_code != 207:
                        stats.http_errors[response.status_code] += 1
                        stats.note(f"HTTP {response.status_code}: {response.text[:300]}")
                        break
                    stats.latencies.append(latency)
                    stats.batches_ok += 1
                    clean = _count_results(stats, orjson.loads(response.content), template)
                    break
                if clean and verify_samples and offers.empty():
                    info = random.choice(template.traces)
                    s = _seq_text(seq)
                    offers.put_nowait(
                        (
                            info.id.replace("@S@", s),
                            [o.replace("@S@", s) for o in info.observation_ids],
                        )
                    )

    async def verifier() -> None:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout) as http:
            while stats.verified + stats.verify_failed < verify_samples:
                getter = asyncio.ensure_future(offers.get())
                stopper = asyncio.ensure_future(done.wait())
                await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    stopper.cancel()
                    return
                stopper.cancel()
                trace_id, expected = getter.result()
                try:
                    response = await http.get(f"/api/public/traces/{trace_id}")
                except httpx.TransportError as exc:
                    stats.verify_failed += 1
                    stats.verify_notes.append(f"trace {trace_id}: {type(exc).__name__}")
                    return
                problem = None
                if response.status_code != 200:
                    problem = f"trace {trace_id}: HTTP {response.status_code}"
                else:
                    got = {
                        o.get("id") for o in orjson.loads(response.content).get("observations", [])
                    }
                    missing = set(expected) - got
                    if missing:
                        problem = f"trace {trace_id}: {len(missing)} of {len(expected)} observations missing"
                if problem is None:
                    stats.verified += 1
                else:
                    stats.verify_failed += 1
                    if len(stats.verify_notes) < 5:
                        stats.verify_notes.append(problem)
                # Spread the samples over the run: the next one is due at a fixed schedule.
                checked = stats.verified + stats.verify_failed
                pause = started + checked * verify_interval - time.perf_counter()
                if pause > 0:
                    try:
                        await asyncio.wait_for(done.wait(), pause)
                    except TimeoutError:
                        pass

    async def reporter(started: float) -> None:
        last_t, last_events = started, 0
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), 5.0)
            except TimeoutError:
                now = time.perf_counter()
                rate = (stats.events_ok - last_events) / (now - last_t)
                print(
                    f"    {now - started:5.1f}s  {rate:9,.0f} events/s   {stats.observations_ok:,} spans "
                    f"acknowledged, 503s {stats.unavailable}",
                    flush=True,
                )
                last_t, last_events = now, stats.events_ok

    started = time.perf_counter()
    source.begin()
    side_tasks = []
    if verify_samples:
        side_tasks.append(asyncio.create_task(verifier()))
    if progress:
        side_tasks.append(asyncio.create_task(reporter(started)))
    try:
        await asyncio.gather(*(client() for _ in range(clients)))
        stats.elapsed = time.perf_counter() - started
    finally:
        done.set()
        for task in side_tasks:
            try:
                await asyncio.wait_for(task, 60)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
    return stats


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(10.0, max(0.05, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


def _count_results(stats: PhaseStats, payload: Any, template: BatchTemplate) -> bool:
    """Adds one 207 answer to the counts; True if every event of the batch was accepted."""
    successes = payload.get("successes", []) if isinstance(payload, dict) else []
    errors = payload.get("errors", []) if isinstance(payload, dict) else []
    stats.events_ok += len(successes)
    stats.events_failed += len(errors)
    if errors:
        stats.note(f"event error: {orjson.dumps(errors[0]).decode()[:300]}")
        stats.observations_ok += sum(1 for s in successes if "-O" in str(s.get("id", "")))
        stats.traces_ok += sum(1 for s in successes if str(s.get("id", "")).endswith("-T"))
        return False
    stats.observations_ok += template.observations
    stats.traces_ok += len(template.traces)
    return len(successes) == template.events


# --------------------------------------------------------------------------------------------
# One benchmark run
# --------------------------------------------------------------------------------------------


class BenchFailed(Exception):
    """A database's run could not produce figures; the message says why."""


@dataclass
class Result:
    label: str
    database: str
    stats: PhaseStats
    warmup_observations: int = 0
    server_cpu_s: float | None = None
    db_cpu_s: float | None = None
    pg_cpu: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    sampled_rss_mb: float | None = None
    client_cpu_s: float = 0.0
    db_counts: tuple[int, int] | None = None
    expected_counts: tuple[int, int] = (0, 0)
    log_problems: list[str] = field(default_factory=list)
    error: str | None = None  # the run failed; no figures

    @property
    def events_per_s(self) -> float:
        return self.stats.events_ok / self.stats.elapsed if self.stats.elapsed else 0.0

    @property
    def spans_per_s(self) -> float:
        return self.stats.observations_ok / self.stats.elapsed if self.stats.elapsed else 0.0

    def percentile_ms(self, q: float) -> float | None:
        data = sorted(self.stats.latencies)
        if not data:
            return None
        return data[min(len(data) - 1, max(0, math.ceil(q * len(data)) - 1))] * 1000

    def per_span_us(self, seconds: float | None) -> float | None:
        if seconds is None or not self.stats.observations_ok:
            return None
        return seconds * 1e6 / self.stats.observations_ok


def run_benchmark(
    args: argparse.Namespace,
    label: str,
    base_url: str,
    auth_header: str,
    *,
    server_pid: int | None,
    database_url: str | None,
    pool: list[BatchTemplate],
    tag: str,
    server: ServerProcess | None = None,
) -> Result:
    pg: PostgresCpu | None = None
    if database_url and database_url.startswith("postgresql"):
        from sqlalchemy.engine.url import make_url

        parsed = make_url(database_url)
        if parsed.host in (None, "", "localhost", "127.0.0.1", "::1"):
            pg = PostgresCpu(parsed.username or "postgres", parsed.database or "postgres")
    tpl_events = sum(t.events for t in pool) / len(pool)
    tpl_obs = sum(t.observations for t in pool) / len(pool)
    tpl_bytes = sum(len(t.body) for t in pool) / len(pool)
    print(
        f"\n== {label}: {args.clients} clients, {args.batch_traces} traces/request "
        f"(avg {tpl_events:.0f} events, {tpl_obs:.0f} spans, {tpl_bytes / 1024:.0f} KiB)",
        flush=True,
    )

    seq = 0
    warmup_obs = warmup_traces = 0
    if args.warmup > 0:
        print(f"    warm-up {args.warmup:g}s ...", flush=True)
        source = BatchSource(pool, seq, batches=None, duration=args.warmup)
        warm = asyncio.run(
            run_phase(
                base_url, auth_header, source, args.clients, request_timeout=args.request_timeout
            )
        )
        seq = source.seq
        warmup_obs, warmup_traces = warm.observations_ok, warm.traces_ok
        if warm.batches_ok == 0 or warm.stalled:
            detail = [warm.stalled] if warm.stalled else []
            raise BenchFailed(
                "warm-up failed: " + "; ".join((detail + warm.samples[:3]) or ["(no detail)"])
            )
        batch_rate = warm.batches_ok / warm.elapsed
    else:
        batch_rate = 10.0

    if args.traces:
        batches = math.ceil(args.traces / args.batch_traces)
        source = BatchSource(pool, seq, batches=batches, duration=None)
        expected_time = batches / max(batch_rate, 0.1)
        print(
            f"    measuring: {batches} requests ({batches * args.batch_traces} traces) ...",
            flush=True,
        )
    else:
        source = BatchSource(pool, seq, batches=None, duration=args.duration)
        expected_time = args.duration
        print(f"    measuring for {args.duration:g}s ...", flush=True)
    interval = expected_time / (args.verify_samples + 1) if args.verify_samples else 0.0

    sampler = ProcSampler(server_pid, pg)
    cpu0 = tree_cpu_ticks(server_pid) if server_pid else None
    client0 = time.process_time()
    sampler.begin()
    try:
        stats = asyncio.run(
            run_phase(
                base_url,
                auth_header,
                source,
                args.clients,
                request_timeout=args.request_timeout,
                verify_samples=args.verify_samples,
                verify_interval=interval,
                progress=not args.quiet,
            )
        )
    finally:
        pg_used = sampler.finish()
    cpu1 = tree_cpu_ticks(server_pid) if server_pid else None
    result = Result(
        label=label, database=database_url or "", stats=stats, warmup_observations=warmup_obs
    )
    result.client_cpu_s = time.process_time() - client0
    if cpu0 is not None and cpu1 is not None:
        result.server_cpu_s = (cpu1 - cpu0) / CLK_TCK
    if pg is not None:
        result.pg_cpu = pg_used
        result.db_cpu_s = pg_used.get("ours", 0.0) + pg_used.get("shared", 0.0)
    if server_pid:
        hwm = tree_status_kb(server_pid, "VmHWM")
        result.peak_rss_mb = hwm / 1024 if hwm else None
        result.sampled_rss_mb = sampler.peak_rss_kb / 1024 if sampler.peak_rss_kb else None
    if database_url:
        try:
            result.db_counts = count_in_database(database_url, tag)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            stats.note(f"could not count rows in the database: {type(exc).__name__}: {exc}")
    result.expected_counts = (stats.traces_ok + warmup_traces, stats.observations_ok + warmup_obs)
    if server is not None:
        result.log_problems = server.log_problems()
    print_detail(result, args)
    return result


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ",.0f", none: str = "—") -> str:
    return none if value is None else format(value, spec)


def print_detail(r: Result, args: argparse.Namespace) -> None:
    s = r.stats
    http_errors = (
        ", ".join(f"{n} × HTTP {code}" for code, n in sorted(s.http_errors.items())) or "none"
    )
    print(
        f"    requests {s.requests:,} in {s.elapsed:.1f}s: {s.batches_ok:,} answered 207, "
        f"{s.unavailable:,} answered 503 (retried); other HTTP errors: {http_errors}; "
        f"{s.transport_errors:,} transport errors"
    )
    if s.stalled:
        print(f"      ! STALLED: {s.stalled}")
    print(
        f"    events accepted      {s.events_ok:,} ({s.events_failed:,} rejected)  "
        f"= {r.events_per_s:,.0f} events/s"
    )
    print(
        f"    spans acknowledged   {s.observations_ok:,} = {r.spans_per_s:,.0f} spans/s readable "
        f"(a 207 is sent after the commit)"
    )
    print(
        f"    latency              p50 {_fmt(r.percentile_ms(0.50), ',.1f')} ms, "
        f"p90 {_fmt(r.percentile_ms(0.90), ',.1f')} ms, p99 {_fmt(r.percentile_ms(0.99), ',.1f')} ms, "
        f"max {_fmt(r.percentile_ms(1.0), ',.1f')} ms"
    )
    checked = s.verified + s.verify_failed
    print(f"    read after ack       {s.verified}/{checked} sampled traces had all their spans")
    for note in s.verify_notes:
        print(f"      ! {note}")
    if r.db_counts is not None:
        exp_t, exp_o = r.expected_counts
        got_t, got_o = r.db_counts
        verdict = "ok" if got_o == exp_o and got_t >= exp_t else "MISMATCH"
        print(
            f"    database rows        {got_o:,} spans stored / {exp_o:,} acknowledged, "
            f"{got_t:,} traces / {exp_t:,}  [{verdict}] (incl. warm-up)"
        )
    if r.server_cpu_s is not None:
        print(
            f"    server CPU           {r.server_cpu_s:.2f}s = {_fmt(r.per_span_us(r.server_cpu_s))} µs/span "
            f"({r.server_cpu_s / s.elapsed:.2f} cores)"
        )
    if r.pg_cpu:
        ours, shared, other = (r.pg_cpu.get(k, 0.0) for k in ("ours", "shared", "other"))
        print(
            f"    PostgreSQL CPU       {r.db_cpu_s:.2f}s = {_fmt(r.per_span_us(r.db_cpu_s))} µs/span "
            f"(bench database backends {ours:.2f}s + shared background {shared:.2f}s)"
        )
        if other > 0.05 * max(r.db_cpu_s or 0, 0.01):
            print(
                f"      ! other databases' backends used {other:.2f}s CPU meanwhile (not counted; "
                "they compete for the same cores)"
            )
    elif r.label == "sqlite" and r.server_cpu_s is not None:
        print("    database CPU         (SQLite runs inside the server process: included above)")
    if r.peak_rss_mb is not None:
        print(
            f"    server memory        peak RSS {r.peak_rss_mb:,.0f} MB (VmHWM; sampled max during "
            f"the run {_fmt(r.sampled_rss_mb)} MB)"
        )
    print(
        f"    load generator CPU   {r.client_cpu_s:.2f}s ({r.client_cpu_s / s.elapsed:.2f} cores "
        f"of {os.cpu_count()} on this machine)"
    )
    for sample in s.samples:
        print(f"      ! {sample}")
    print_log_problems(r.log_problems)


def print_log_problems(lines: list[str]) -> None:
    if not lines:
        return
    counts = Counter(re.sub(r"\d+\.\d+\.\d+\.\d+:\d+|'[^']*'", "…", line)[:160] for line in lines)
    print(f"    server log: {len(lines)} warning/error lines; most frequent:")
    for line, n in counts.most_common(6):
        print(f"      {n:5d} × {line}")


def print_table(results: list[Result], command: str) -> None:
    headers = [
        "database",
        "events/s",
        "spans/s",
        "p50 ms",
        "p99 ms",
        "503s",
        "failed",
        "verified",
        "server µs/span",
        "db µs/span",
        "peak RSS MB",
    ]
    rows = []
    notes = []
    for r in results:
        s = r.stats
        if r.error is not None:
            rows.append([r.label, "FAILED", *["—"] * (len(headers) - 2)])
            notes.append(f"{r.label}: {r.error}")
            continue
        if s.stalled:
            notes.append(f"{r.label}: {s.stalled} (figures cover the part before)")
        verified = f"{s.verified}/{s.verified + s.verify_failed}"
        if r.db_counts is not None:
            verified += " rows ok" if r.db_counts[1] == r.expected_counts[1] else " ROWS MISSING"
        db_us = r.per_span_us(r.db_cpu_s) if r.db_cpu_s is not None else None
        rows.append(
            [
                r.label,
                _fmt(r.events_per_s),
                _fmt(r.spans_per_s),
                _fmt(r.percentile_ms(0.5), ",.1f"),
                _fmt(r.percentile_ms(0.99), ",.1f"),
                str(s.unavailable),
                str(s.failed_requests),
                verified,
                _fmt(r.per_span_us(r.server_cpu_s)),
                _fmt(
                    db_us,
                    none="in server" if r.label == "sqlite" and r.server_cpu_s is not None else "—",
                ),
                _fmt(r.peak_rss_mb),
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = "  ".join(
        h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths))
    )
    print("\n" + line)
    print("-" * len(line))
    for row in rows:
        print(
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
        )
    for note in notes:
        print(f"! {note}")
    print(f"\ncommand: {command}")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Spyglass ingestion benchmark: events/s, spans/s, latency, CPU and memory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--db",
        choices=["sqlite", "postgres", "both"],
        default="both",
        help="database(s) to start a server on; with --url, the label of the one behind it",
    )
    p.add_argument("--clients", type=int, default=8, help="concurrent clients")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--duration", type=float, default=20.0, help="seconds of measured load per database"
    )
    group.add_argument(
        "--traces", type=int, help="send this many traces instead of running for --duration"
    )
    p.add_argument(
        "--batch-traces", type=int, default=10, help="traces per request (5–10 spans each)"
    )
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load first")
    p.add_argument(
        "--verify-samples",
        type=int,
        default=50,
        help="traces read back right after their acknowledgement",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        default=60.0,
        help="seconds without an answer after which the server counts as stalled and the "
        "load for that database stops",
    )
    p.add_argument("--pool", type=int, default=64, help="distinct pre-built request bodies")
    p.add_argument("--seed", type=int, default=1, help="payload random seed")
    p.add_argument("--port", type=int, help="port for the started server (default: a free one)")
    p.add_argument(
        "--pg-admin-url",
        default=DEFAULT_PG_ADMIN,
        help="libpq URL used to create and drop the benchmark database",
    )
    p.add_argument(
        "--pg-database",
        default="spyglass_bench",
        help="benchmark database (dropped and re-created)",
    )
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the started server, e.g. SPYGLASS_DB_POOL_SIZE=20 (repeatable)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the data directory and the Postgres database"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    ext = p.add_argument_group("an already running server (instead of starting one)")
    ext.add_argument("--url", help="base URL, e.g. http://127.0.0.1:3000")
    ext.add_argument("--public-key", default=os.environ.get("LANGFUSE_PUBLIC_KEY"))
    ext.add_argument("--secret-key", default=os.environ.get("LANGFUSE_SECRET_KEY"))
    ext.add_argument(
        "--database-url",
        help="its SQLAlchemy database URL: enables the row count check "
        "and, for a local Postgres, the database CPU figure",
    )
    ext.add_argument(
        "--server-pid", type=int, help="its process id, if local: enables server CPU and RSS"
    )
    args = p.parse_args(argv)
    if args.clients < 1 or args.batch_traces < 1 or args.pool < 1:
        p.error("--clients, --batch-traces and --pool must be at least 1")
    if args.traces is not None and args.traces < 1:
        p.error("--traces must be at least 1")
    if args.traces is None and args.duration <= 0:
        p.error("--duration must be positive")
    env = {}
    for item in args.server_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            p.error(f"--server-env wants NAME=VALUE, got {item!r}")
        env[name] = value
    args.server_env = env
    if args.url and not (args.public_key and args.secret_key):
        p.error(
            "--url needs --public-key and --secret-key (or LANGFUSE_PUBLIC_KEY/LANGFUSE_SECRET_KEY)"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(argv)

    def _terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)

    tag = uuid.uuid4().hex[:10]
    print(f"building {args.pool} request bodies ...", flush=True)
    t0 = time.perf_counter()
    pool = build_pool(args.pool, args.batch_traces, tag, args.seed)
    print(f"  done in {time.perf_counter() - t0:.1f}s; run tag {tag}", flush=True)

    results: list[Result] = []
    try:
        if args.url:
            label = args.db if args.db != "both" else "server"
            if args.database_url and args.db == "both":
                label = "postgres" if args.database_url.startswith("postgresql") else "sqlite"
            auth = _basic(args.public_key, args.secret_key)
            try:
                results.append(
                    run_benchmark(
                        args,
                        label,
                        args.url.rstrip("/"),
                        auth,
                        server_pid=args.server_pid,
                        database_url=args.database_url,
                        pool=pool,
                        tag=tag,
                    )
                )
            except BenchFailed as exc:
                print(f"    ! FAILED: {exc}", flush=True)
                results.append(
                    Result(
                        label=label,
                        database=args.database_url or "",
                        stats=PhaseStats(),
                        error=str(exc),
                    )
                )
        else:
            for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
                results.append(run_started(args, db, pool, tag))
    except KeyboardInterrupt:
        print("\ninterrupted; server stopped", file=sys.stderr)
        if results:
            print_table(results, command)
        return 130
    print_table(results, command)
    return 1 if any(r.error or r.stats.stalled for r in results) else 0


def _basic(public_key: str, secret_key: str) -> str:
    return "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()


def run_started(args: argparse.Namespace, db: str, pool: list[BatchTemplate], tag: str) -> Result:
    """Start a server on `db`, measure it, stop it; a failed run becomes a FAILED row."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"spyglass-bench-{db}-"))
    server: ServerProcess | None = None
    try:
        with _database_for(args, db, data_dir) as database_url:
            server = ServerProcess(
                database_url, args.port or free_port(), data_dir, args.server_env
            )
            try:
                print(f"\nstarting server on {db} ({_safe(database_url)}) ...", flush=True)
                server.start()
                return run_benchmark(
                    args,
                    db,
                    server.url,
                    _basic(DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY),
                    server_pid=server.pid,
                    database_url=database_url,
                    pool=pool,
                    tag=tag,
                    server=server,
                )
            finally:
                server.stop()
    except BenchFailed as exc:
        print(f"    ! FAILED: {exc}", flush=True)
        if server is not None:
            print_log_problems(server.log_problems())
        return Result(label=db, database="", stats=PhaseStats(), error=str(exc))
    finally:
        if args.keep:
            print(f"    kept data directory {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def _database_for(args: argparse.Namespace, db: str, data_dir: Path) -> Iterator[str]:
    if db == "sqlite":
        yield f"sqlite:///{data_dir / 'spyglass.db'}"
    else:
        with postgres_database(args.pg_admin_url, args.pg_database, args.keep) as url:
            yield url


def _safe(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


if __name__ == "__main__":
    sys.exit(main())
