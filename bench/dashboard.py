#!/usr/bin/env python3
"""Dashboard benchmark for Spyglass: how fast the pages a user opens most answer on a big project.

Seeds a project with 1,000,000 observations in 100,000 traces (plus one trace of 5,000
observations) through the real write path (Langfuse ingestion events → `parse_event` →
`IngestWriter`, in-process), so the per-trace rollups and the search index are what the
server maintains. The seeded databases are kept (SQLite file under `--data-dir`, PostgreSQL
database `spyglass_bench_dashboard`) and reused while their seed parameters match.

Then it starts a real server on each database, signs in as a dashboard user and times each
page: `--requests` requests after `--warmup` unmeasured ones, median and p95.

Run `python bench/dashboard.py --help` for options; bench/README.md has examples.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # seed with the checkout this script lives in

# The server lifecycle helpers of the ingestion benchmark (bench/ingest.py, next to this file).
from ingest import (  # noqa: E402
    PROJECT,
    BenchFailed,
    ServerProcess,
    free_port,
    print_log_problems,
    tree_status_kb,
)

DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_PG_DATABASE = "spyglass_bench_dashboard"
DEFAULT_DATA_DIR = Path("~/.cache/spyglass-bench/dashboard")
USER_EMAIL = "bench-dashboard@spyglass.local"
USER_PASSWORD = "bench-dashboard-password"
# Bump when the generated data changes, so that cached databases are seeded again.
SEED_FORMAT = 1
META_TABLE = "bench_meta"
SLOW_MS = 300.0  # the goal: p95 under this on PostgreSQL

# --------------------------------------------------------------------------------------------
# What the data looks like
# --------------------------------------------------------------------------------------------

# (model, weight, $ per 1M input tokens, $ per 1M output tokens, typical latency s)
MODELS = [
    ("gpt-4o-mini", 28, 0.15, 0.60, 1.2),
    ("gpt-4o", 18, 2.50, 10.00, 2.5),
    ("claude-3-5-sonnet-20241022", 16, 3.00, 15.00, 3.0),
    ("claude-3-5-haiku-20241022", 8, 0.80, 4.00, 1.0),
    ("gemini-1.5-pro", 8, 1.25, 5.00, 2.8),
    ("mistral-large-latest", 7, 2.00, 6.00, 2.2),
    ("llama-3.1-70b-instruct", 9, 0.88, 0.88, 1.8),
    ("o1-mini", 6, 3.00, 12.00, 6.0),
]
_MODEL_WEIGHTS = [m[1] for m in MODELS]
MODEL_PARAMS = [
    {"temperature": 0.2, "max_tokens": 1024},
    {"temperature": 0.7, "max_tokens": 2048, "top_p": 0.95},
    {"temperature": 0.0, "max_tokens": 4096},
]
TRACE_NAMES = [
    ("support-chat", 30),
    ("rag-query", 25),
    ("agent-run", 15),
    ("summarise-document", 10),
    ("classify-ticket", 8),
    ("sql-assistant", 6),
    ("translate", 4),
    ("nightly-report", 2),
]
_TRACE_NAME_WEIGHTS = [w for _, w in TRACE_NAMES]
GENERATION_NAMES = ["plan", "answer", "summarise", "classify-intent", "extract-entities", "reflect"]
# (event type, names)
CHILD_KINDS = [
    ("tool-create", ["web-search", "sql-query", "calculator", "send-email", "lookup-order"]),
    ("retriever-create", ["vector-search", "keyword-search", "fetch-documents"]),
    ("span-create", ["rerank", "parse-output", "guardrail-check", "format-answer", "cache-lookup"]),
    ("chain-create", ["answer-chain", "retry-chain"]),
    ("event-create", ["cache-hit", "user-interrupt"]),
]
_CHILD_WEIGHTS = [30, 25, 30, 8, 7]
PROMPTS = [("support-answer", 4), ("intent-classifier", 2), ("summarise", 3), ("sql-writer", 5)]
TAGS = ["rag", "agent", "beta", "mobile", "web", "api", "eval", "vip", "experiment-42"]
ERROR_MESSAGES = [
    "Rate limit exceeded (HTTP 429), retry after 20s",
    "Tool timed out after 30s",
    "Model output is not valid JSON: Expecting ',' delimiter",
    "Upstream connection reset by peer",
    "Context length exceeded: 131072 tokens",
]
WARNING_MESSAGES = ["Retried once after a timeout", "Output truncated at max_tokens"]
SYSTEM_PROMPTS = [
    "You are a helpful support assistant. Answer briefly and cite the documents you used.",
    "You are a careful analyst. Think step by step and return a JSON object.",
    "Classify the user's request into one of: billing, shipping, account, other.",
]
# Words that occur nowhere else in the generated text, so a search for them is selective.
# (word, share of traces that contain it, language of the traces it is put in)
RARE_TERMS = [("quokka", 0.0005, "en"), ("serendipitous", 0.003, "en"), ("請求書", 0.15, "ja")]
SEARCH_TERMS = ["quokka", "請求書", "refund"]  # rare, non-English (Japanese), common
LANGUAGES = [("en", 90.0), ("de", 4.0), ("fr", 3.0), ("es", 1.5), ("ja", 1.5)]


def _words(text: str) -> list[str]:
    return text.split()


_EN = _words(
    "the of and to in is that for it as with was on be by this are or from at an which have not "
    "has but all can more one also their its when would about into only could please you explain "
    "why how what where however therefore because first second then example note important step "
    "model prompt token context answer question user assistant tool call result document chunk "
    "search query score latency cost customer order invoice refund shipping address account "
    "password reset subscription plan upgrade billing error timeout retry request response json "
    "schema field value summary report table revenue quarter growth forecast budget team project "
    "deadline meeting delivery warehouse package tracking number discount coupon cancel renew "
    "card payment declined login email verify support ticket priority escalate manager policy "
    "return window days week month yesterday today tomorrow thanks hello hi sorry issue problem"
)
_DE = _words(
    "der die das und ist nicht ich Sie mein meine Bestellung Rechnung Lieferung Paket Konto "
    "Passwort zurücksetzen Rückerstattung bitte danke warum wann wo wie können Sie helfen "
    "Zahlung abgelehnt Adresse ändern Kündigung Abonnement Woche gestern heute morgen über "
    "für mit bei noch schon leider Fehler Problem Kundendienst Rechnungsadresse Größe Straße"
)
_FR = _words(
    "le la les et est pas je vous mon ma commande facture livraison colis compte mot de passe "
    "réinitialiser remboursement s'il vous plaît merci pourquoi quand où comment pouvez aider "
    "paiement refusé adresse changer résiliation abonnement semaine hier aujourd'hui demain "
    "avec pour encore déjà malheureusement erreur problème service client garantie été"
)
_ES = _words(
    "el la los y es no yo usted mi pedido factura envío paquete cuenta contraseña restablecer "
    "reembolso por favor gracias por qué cuándo dónde cómo puede ayudar pago rechazado "
    "dirección cambiar cancelación suscripción semana ayer hoy mañana con para todavía ya "
    "lamentablemente error problema atención al cliente garantía año"
)
# Japanese phrases (no spaces between words); 請求書 (invoice) is left out: it is a rare term.
_JA = _words(
    "注文 配送 荷物 アカウント パスワード リセット 返金 お願いします ありがとうございます "
    "なぜ いつ どこ どのように 支払い 拒否 住所 変更 解約 サブスクリプション 今週 昨日 今日 "
    "明日 エラー 問題 サポート 保証 届きません 確認してください 申し訳ありません"
)
WORDS = {"en": _EN, "de": _DE, "fr": _FR, "es": _ES, "ja": _JA}


class Texts:
    """Short texts cut from a pre-generated word soup per language (cheap to make)."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"texts-{seed}")
        self.corpus: dict[str, str] = {}
        for lang, words in WORDS.items():
            joiner = "" if lang == "ja" else " "
            end = "。" if lang == "ja" else ". "
            parts, size = [], 0
            while size < 200_000:
                sentence = joiner.join(rng.choice(words) for _ in range(rng.randint(5, 16)))
                sentence = sentence[0].upper() + sentence[1:]
                parts.append(sentence + rng.choice([end, end, "? " if lang != "ja" else "？"]))
                size += len(parts[-1])
            self.corpus[lang] = "".join(parts)

    def text(self, rng: random.Random, lang: str, low: int, high: int) -> str:
        corpus = self.corpus[lang]
        length = rng.randint(low, high)
        start = rng.randrange(0, len(corpus) - length - 1)
        if lang != "ja":
            # Start at a word boundary, so that words are not cut into new ones.
            space = corpus.find(" ", start, start + 30)
            start = space + 1 if space >= 0 else start
        text = corpus[start : start + length].strip()
        return text[:1].upper() + text[1:]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


# --------------------------------------------------------------------------------------------
# The plan: which traces exist, when, for whom (cheap; the bodies are made chunk by chunk)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedParams:
    traces: int
    observations: int
    large_observations: int
    seed: int
    format: int = SEED_FORMAT


@dataclass(slots=True)
class TracePlan:
    timestamp: datetime
    id: str
    user_id: str | None
    session_id: str | None
    observations: int


@dataclass
class Plan:
    traces: list[TracePlan]
    users: int
    sessions: int
    now: datetime
    large_trace_id: str
    large_timestamp: datetime


DAY = 86400.0
WINDOW_DAYS = 30
# age = 30 days × u**AGE_POWER puts ~5 % of the traces in the last 24 h, and more in recent days
AGE_POWER = math.log(1 / WINDOW_DAYS) / math.log(0.05)


def _age_seconds(rng: random.Random) -> float:
    return WINDOW_DAYS * DAY * rng.random() ** AGE_POWER


def make_plan(params: SeedParams, now: datetime) -> Plan:
    rng = random.Random(f"plan-{params.seed}")
    n = params.traces
    n_users = max(10, n // 50)
    n_sessions = max(5, n // 5)
    user_ids = [f"user-{i:05d}" for i in range(1, n_users + 1)]
    # Zipf-like: a few users make many traces.
    user_weights = [1.0 / (rank**0.9) for rank in range(1, n_users + 1)]
    cum_users = list(itertools.accumulate(user_weights))
    sessions: list[tuple[str, str, float]] = []  # id, user, age of its last trace (s)
    for _ in range(n_sessions):
        user = rng.choices(user_ids, cum_weights=cum_users)[0]
        sessions.append((f"sess-{_hex(rng, 64)}", user, _age_seconds(rng)))
    in_session: dict[int, list[int]] = {}
    assignment: list[int | None] = []
    for i in range(n):
        if rng.random() < 0.9:
            s = rng.randrange(n_sessions)
            in_session.setdefault(s, []).append(i)
            assignment.append(s)
        else:
            assignment.append(None)
    ages = [0.0] * n
    for s, members in in_session.items():
        age = sessions[s][2]
        # The session's traces, newest first, a few seconds to minutes apart.
        for i in members:
            ages[i] = age
            age += rng.uniform(15, 360)
    sizes = _sizes(rng, n, params.observations)
    plans = []
    for i in range(n):
        s = assignment[i]
        if s is None:
            age = _age_seconds(rng)
            user = rng.choices(user_ids, cum_weights=cum_users)[0] if rng.random() < 0.95 else None
            session = None
        else:
            age = ages[i]
            user, session = sessions[s][1], sessions[s][0]
        ts = now - timedelta(seconds=age + 30)  # 30 s: every trace has ended by "now"
        plans.append(TracePlan(ts, _hex(rng, 128), user, session, sizes[i]))
    plans.sort(key=lambda p: p.timestamp)
    large_id = _hex(rng, 128)
    return Plan(plans, n_users, n_sessions, now, large_id, now - timedelta(hours=3))


def _sizes(rng: random.Random, traces: int, observations: int) -> list[int]:
    """Observations per trace: around the mean, varying, summing to exactly `observations`."""
    base, rest = divmod(observations, traces)
    sizes = [base] * traces
    for i in range(rest):
        sizes[i] += 1
    spread = max(0, min(base - 3, 4))
    for i in range(0, traces - 1, 2):
        d = rng.randint(-spread, spread) if spread else 0
        sizes[i] += d
        sizes[i + 1] -= d
    rng.shuffle(sizes)
    return sizes


# --------------------------------------------------------------------------------------------
# Event bodies
# --------------------------------------------------------------------------------------------


@dataclass
class Built:
    events: list[dict[str, Any]] = field(default_factory=list)
    observations: int = 0
    scores: int = 0


def _pick_lang(rng: random.Random) -> str:
    return rng.choices([lang for lang, _ in LANGUAGES], weights=[w for _, w in LANGUAGES])[0]


def _with_rare(rng: random.Random, text: str, lang: str) -> str:
    for word, share, word_lang in RARE_TERMS:
        if word_lang == lang and rng.random() < share:
            if lang == "ja":
                cut = rng.randrange(0, len(text) + 1)
                text = text[:cut] + word + text[cut:]
            else:
                words = text.split(" ")
                words.insert(rng.randrange(0, len(words) + 1), word)
                text = " ".join(words)
    return text


def build_trace_events(
    rng: random.Random, texts: Texts, plan: TracePlan, now: datetime, out: Built
) -> None:
    """A trace-create, `plan.observations` observation events and sometimes a score."""
    lang = _pick_lang(rng)
    name = rng.choices([n for n, _ in TRACE_NAMES], weights=_TRACE_NAME_WEIGHTS)[0]
    environment = "production" if rng.random() < 0.85 else "staging"
    question = _with_rare(rng, texts.text(rng, lang, 60, 260), lang)
    answer = _with_rare(rng, texts.text(rng, lang, 150, 480), lang)
    start = plan.timestamp
    tags = sorted(rng.sample(TAGS, k=rng.choice([0, 1, 1, 2, 3])))
    trace_body: dict[str, Any] = {
        "id": plan.id,
        "name": name,
        "timestamp": _iso(start),
        "environment": environment,
        "input": {"messages": [{"role": "user", "content": question}]},
        "output": {"role": "assistant", "content": answer},
        "metadata": {
            "region": rng.choice(["eu-west-1", "us-east-1", "ap-northeast-1"]),
            "app_version": f"2.{rng.randint(3, 9)}.{rng.randint(0, 20)}",
            "language": lang,
        },
        "release": rng.choice(["2025.06.1", "2025.07.0", "2025.07.2"]),
        "tags": tags,
    }
    if plan.user_id:
        trace_body["userId"] = plan.user_id
    if plan.session_id:
        trace_body["sessionId"] = plan.session_id
    out.events.append(
        {
            "id": f"ev-{plan.id}",
            "type": "trace-create",
            "timestamp": _iso(start),
            "body": trace_body,
        }
    )
    failing = rng.random() < 0.10  # about 3 % of the observations end up ERROR
    n = plan.observations
    generations = min(n - 1, rng.randint(2, 4))
    kinds = ["generation"] * generations + ["child"] * (n - 1 - generations)
    rng.shuffle(kinds)
    root_id = _hex(rng, 64)
    root_kind = "agent-create" if name in ("agent-run", "sql-assistant") else "span-create"
    # (id, depth, end time) of the observations that can hold children
    parents: list[tuple[str, int]] = [(root_id, 1)]
    clock = start + timedelta(milliseconds=rng.randint(1, 30))
    end = clock
    obs_events: list[dict[str, Any]] = []
    first_generation: str | None = None
    for kind in kinds:
        obs_id = _hex(rng, 64)
        parent_id, depth = rng.choice(parents[-3:]) if rng.random() < 0.6 else parents[0]
        begin = clock + timedelta(milliseconds=rng.randint(2, 120))
        body: dict[str, Any] = {
            "id": obs_id,
            "traceId": plan.id,
            "parentObservationId": parent_id,
            "startTime": _iso(begin),
            "environment": environment,
        }
        if kind == "generation":
            event_type = "generation-create"
            model, _, price_in, price_out, typical = rng.choices(MODELS, weights=_MODEL_WEIGHTS)[0]
            duration = rng.uniform(0.25, 2.2) * typical
            tokens_in = int(rng.lognormvariate(6.5, 0.8))
            tokens_out = int(rng.lognormvariate(5.0, 0.7))
            cost_in, cost_out = tokens_in * price_in / 1e6, tokens_out * price_out / 1e6
            system = rng.choice(SYSTEM_PROMPTS)
            body.update(
                {
                    "name": rng.choice(GENERATION_NAMES),
                    "model": model,
                    "modelParameters": rng.choice(MODEL_PARAMS),
                    "input": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": texts.text(rng, lang, 40, 160)},
                    ],
                    "output": {"role": "assistant", "content": texts.text(rng, lang, 60, 220)},
                    "usageDetails": {"input": tokens_in, "output": tokens_out},
                    "costDetails": {
                        "input": round(cost_in, 8),
                        "output": round(cost_out, 8),
                        "total": round(cost_in + cost_out, 8),
                    },
                    "completionStartTime": _iso(
                        begin + timedelta(seconds=min(duration * 0.8, rng.uniform(0.15, 1.2)))
                    ),
                }
            )
            if rng.random() < 0.3:
                prompt, versions = rng.choice(PROMPTS)
                body["promptName"] = prompt
                body["promptVersion"] = rng.randint(1, versions)
            first_generation = first_generation or obs_id
        else:
            event_type, names = rng.choices(CHILD_KINDS, weights=_CHILD_WEIGHTS)[0]
            duration = rng.uniform(0.02, 1.5) if event_type != "event-create" else 0.0
            body.update(
                {
                    "name": rng.choice(names),
                    "input": {"query": texts.text(rng, lang, 20, 100), "top_k": 5},
                    "output": texts.text(rng, lang, 30, 160),
                    "metadata": {"attempt": rng.randint(1, 2)},
                }
            )
            if event_type in ("span-create", "chain-create", "agent-create") and depth < 4:
                parents.append((obs_id, depth + 1))
        finish = begin + timedelta(seconds=duration)
        if event_type != "event-create":
            body["endTime"] = _iso(finish)
        if failing and rng.random() < 0.3:
            body["level"] = "ERROR"
            body["statusMessage"] = rng.choice(ERROR_MESSAGES)
        elif rng.random() < 0.02:
            body["level"] = "WARNING"
            body["statusMessage"] = rng.choice(WARNING_MESSAGES)
        obs_events.append(
            {"id": f"ev-{obs_id}", "type": event_type, "timestamp": _iso(begin), "body": body}
        )
        clock = begin + timedelta(seconds=duration * rng.uniform(0.3, 1.0))
        end = max(end, finish)
    root_end = end + timedelta(milliseconds=rng.randint(1, 40))
    root = {
        "id": root_id,
        "traceId": plan.id,
        "name": name,
        "startTime": _iso(start),
        "endTime": _iso(root_end),
        "environment": environment,
        "input": trace_body["input"],
        "output": trace_body["output"],
        "metadata": {"framework": rng.choice(["langchain", "llamaindex", "custom"])},
    }
    if failing and rng.random() < 0.5:
        root["level"] = "ERROR"
        root["statusMessage"] = rng.choice(ERROR_MESSAGES)
    out.events.append(
        {"id": f"ev-{root_id}", "type": root_kind, "timestamp": _iso(start), "body": root}
    )
    out.events.extend(obs_events)
    out.observations += n
    if rng.random() < 0.2:
        _score_event(rng, plan, environment, first_generation, min(root_end, now), now, out)


def _score_event(
    rng: random.Random,
    plan: TracePlan,
    environment: str,
    generation_id: str | None,
    after: datetime,
    now: datetime,
    out: Built,
) -> None:
    kind = rng.random()
    body: dict[str, Any] = {
        "id": _hex(rng, 128),
        "traceId": plan.id,
        "environment": environment,
        "timestamp": _iso(min(after + timedelta(seconds=rng.uniform(1, 600)), now)),
    }
    if kind < 0.4:
        body.update(name="user-feedback", value=float(rng.random() < 0.8), dataType="BOOLEAN")
        body["source"] = "API"
    elif kind < 0.75:
        body.update(name="relevance", value=round(rng.betavariate(5, 2), 3), dataType="NUMERIC")
        body["source"] = "EVAL"
        if generation_id:
            body["observationId"] = generation_id
    elif kind < 0.9:
        body.update(name="hallucination", dataType="CATEGORICAL", source="EVAL")
        body["value"] = rng.choices(["none", "minor", "major"], weights=[85, 12, 3])[0]
    else:
        body.update(name="helpfulness", value=float(rng.randint(1, 5)), dataType="NUMERIC")
        body.update(source="ANNOTATION", comment="Checked by the support lead.")
    if plan.session_id and rng.random() < 0.1:
        body["sessionId"] = plan.session_id
    out.events.append(
        {
            "id": f"ev-{body['id']}",
            "type": "score-create",
            "timestamp": body["timestamp"],
            "body": body,
        }
    )
    out.scores += 1


def build_large_trace(
    rng: random.Random, texts: Texts, trace_id: str, start: datetime, size: int
) -> tuple[list[list[dict[str, Any]]], str, int]:
    """One trace of `size` observations nested up to depth 5, as event batches of ≤ 500.

    Returns the batches, the id of a deep generation (for the node panel) and the depth.
    """
    events: list[dict[str, Any]] = [
        {
            "id": f"ev-{trace_id}",
            "type": "trace-create",
            "timestamp": _iso(start),
            "body": {
                "id": trace_id,
                "name": "batch-evaluation",
                "timestamp": _iso(start),
                "environment": "production",
                "userId": "user-00001",
                "input": {"dataset": "support-golden-set", "items": size // 10},
                "output": {"passed": int(size / 10 * 0.93), "failed": int(size / 10 * 0.07)},
                "tags": ["eval", "batch"],
            },
        }
    ]
    # Walk in time order keeping the current path: each node is a child of a node on it.
    root = _hex(rng, 64)
    nodes: list[dict[str, Any]] = []
    path: list[tuple[str, int]] = [(root, 1)]
    clock = start
    deep_generation = ""
    max_depth = 1
    nodes.append(
        {"id": root, "type": "agent-create", "name": "evaluate-dataset", "parent": None,
         "start": start, "end": start, "depth": 1}
    )  # fmt: skip
    for _ in range(size - 1):
        while len(path) > 1 and rng.random() < 0.35:
            path.pop()
        parent, depth = path[-1]
        clock += timedelta(milliseconds=rng.randint(5, 400))
        r = rng.random()
        if depth < 5 and r < 0.30:
            kind, name = "span-create", rng.choice(["evaluate-item", "step", "chain", "retry"])
        elif r < 0.65:
            kind, name = "generation-create", rng.choice(GENERATION_NAMES)
        elif r < 0.85:
            kind, name = "tool-create", rng.choice(CHILD_KINDS[0][1])
        else:
            kind, name = "retriever-create", rng.choice(CHILD_KINDS[1][1])
        node_id = _hex(rng, 64)
        duration = rng.uniform(0.05, 3.0)
        node = {
            "id": node_id,
            "type": kind,
            "name": name,
            "parent": parent,
            "start": clock,
            "end": clock + timedelta(seconds=duration),
            "depth": depth + 1,
        }
        nodes.append(node)
        max_depth = max(max_depth, depth + 1)
        if kind == "span-create":
            path.append((node_id, depth + 1))
        elif kind == "generation-create" and depth + 1 >= 4 and not deep_generation:
            deep_generation = node_id
    by_id = {n["id"]: n for n in nodes}
    for node in reversed(nodes):  # children come after parents: push end times upwards
        if node["parent"] is not None:
            parent = by_id[node["parent"]]
            parent["end"] = max(parent["end"], node["end"])
    for node in nodes:
        body: dict[str, Any] = {
            "id": node["id"],
            "traceId": trace_id,
            "parentObservationId": node["parent"],
            "name": node["name"],
            "startTime": _iso(node["start"]),
            "endTime": _iso(node["end"]),
            "environment": "production",
            "input": {"item": texts.text(rng, "en", 20, 120)},
            "output": texts.text(rng, "en", 20, 160),
        }
        if node["type"] == "generation-create":
            model, _, price_in, price_out, _ = rng.choices(MODELS, weights=_MODEL_WEIGHTS)[0]
            tokens_in, tokens_out = rng.randint(200, 3000), rng.randint(20, 600)
            body.update(
                model=model,
                usageDetails={"input": tokens_in, "output": tokens_out},
                costDetails={
                    "total": round((tokens_in * price_in + tokens_out * price_out) / 1e6, 8)
                },
            )
        if rng.random() < 0.01:
            body.update(level="ERROR", statusMessage=rng.choice(ERROR_MESSAGES))
        events.append(
            {
                "id": f"ev-{node['id']}",
                "type": node["type"],
                "timestamp": _iso(node["start"]),
                "body": body,
            }
        )
    batches = [events[i : i + 500] for i in range(0, len(events), 500)]
    return batches, deep_generation or nodes[-1]["id"], max_depth


# --------------------------------------------------------------------------------------------
# Databases: create, mark, reuse
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    label: str  # sqlite / postgres
    url: str  # SQLAlchemy URL


def sqlite_target(data_dir: Path) -> Target:
    return Target("sqlite", f"sqlite:///{data_dir / 'spyglass.db'}")


def postgres_target(admin_url: str, name: str) -> Target:
    from sqlalchemy.engine.url import make_url

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"--pg-database must be a plain lower-case identifier, got {name!r}")
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    return Target("postgres", url.render_as_string(hide_password=False))


def _sqlite_path(target: Target) -> Path:
    return Path(target.url.removeprefix("sqlite:///"))


def read_meta(target: Target, admin_url: str) -> dict[str, Any] | None:
    """The marker a finished seeding left, or None (no database, no marker)."""
    from sqlalchemy import create_engine, inspect, text

    if target.label == "sqlite":
        if not _sqlite_path(target).exists():
            return None
    else:
        import psycopg
        from sqlalchemy.engine.url import make_url

        name = make_url(target.url).database
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if (
                conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
                is None
            ):
                return None
    engine = create_engine(target.url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(META_TABLE):
                return None
            value = conn.execute(
                text(f"SELECT value FROM {META_TABLE} WHERE name = 'seed'")
            ).scalar_one_or_none()
        return json.loads(value) if value else None
    finally:
        engine.dispose()


def drop_database(target: Target, admin_url: str) -> None:
    if target.label == "sqlite":
        path = _sqlite_path(target)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    import psycopg
    from sqlalchemy.engine.url import make_url

    name = make_url(target.url).database
    with psycopg.connect(admin_url, autocommit=True) as conn:
        try:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
        except psycopg.errors.ObjectInUse:
            raise BenchFailed(
                f"database {name} is in use (another run?); wait for it or pass --pg-database"
            ) from None
        conn.execute(f"CREATE DATABASE {name}")


def write_meta(target: Target, meta: dict[str, Any]) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(target.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {META_TABLE} (name VARCHAR(64) PRIMARY KEY, value TEXT)"
                )
            )
            conn.execute(text(f"DELETE FROM {META_TABLE} WHERE name = 'seed'"))
            conn.execute(
                text(f"INSERT INTO {META_TABLE} (name, value) VALUES ('seed', :v)"),
                {"v": json.dumps(meta)},
            )
    finally:
        engine.dispose()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from server.db.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()  # type: ignore[arg-type]


def migration_hashes() -> dict[str, str]:
    """File name → hash of each migration, to tell new migrations from edited ones."""
    from server.db.migrate import migrations_dir

    files = sorted((migrations_dir() / "versions").glob("*.py"))
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest()[:16] for f in files}


def migrate(target: Target) -> None:
    from server.db.engine import make_engine
    from server.db.migrate import upgrade_to_head

    engine = make_engine(target.url, pool_size=1)
    try:
        upgrade_to_head(engine)
    except Exception as exc:
        raise BenchFailed(f"could not migrate the cached database ({exc}); try --reseed") from exc
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------

CHUNK_TRACES = 100
IN_FLIGHT = 4


_WORKER_TEXTS: list[Texts] = []


def _worker_init(seed: int) -> None:
    _WORKER_TEXTS.append(Texts(seed))


def build_chunk(
    seed: int,
    chunk_index: int,
    traces: list[TracePlan],
    now: datetime,
    project_id: str,
    texts: Texts | None = None,
) -> tuple[list[Any], int, int, float]:
    """Records of a chunk of traces (in a worker process): (records, observations, scores, CPU s)."""
    from server.ingest.langfuse import parse_event

    cpu = time.process_time()
    texts = texts or _WORKER_TEXTS[0]
    rng = random.Random(f"chunk-{seed}-{chunk_index}")
    built = Built()
    for trace in traces:
        build_trace_events(rng, texts, trace, now, built)
    records = [r for event in built.events for r in parse_event(event, project_id)]
    return records, built.observations, built.scores, time.process_time() - cpu


def seed(target: Target, params: SeedParams, workers: int, quiet: bool = False) -> dict[str, Any]:
    """Migrate, create project and user, write everything through the IngestWriter."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from server.db.engine import make_engine
    from server.db.migrate import current_revision, upgrade_to_head
    from server.db.models import Project
    from server.ingest.langfuse import parse_event
    from server.ingest.writer import IngestWriter
    from server.projects import queries as projects
    from server.users import queries as users

    engine = make_engine(target.url, pool_size=2)
    try:
        migrations = migration_hashes()
        upgrade_to_head(engine)
        schema = current_revision(engine)
        with Session(engine) as session:
            project = projects.get_project_by_name(session, PROJECT) or projects.create_project(
                session, PROJECT
            )
            user = users.get_user_by_email(session, USER_EMAIL) or users.create_user(
                session, USER_EMAIL, USER_PASSWORD, name="Bench"
            )
            users.add_member(session, session.get(Project, project.id), user, users.Role.OWNER)  # type: ignore[arg-type]
            project_id = project.id
            session.commit()

        now = datetime.now(UTC).replace(microsecond=0)
        t0 = time.perf_counter()
        plan = make_plan(params, now)
        texts = Texts(params.seed)
        print(
            f"    plan: {len(plan.traces):,} traces, {plan.users:,} users, {plan.sessions:,} "
            f"sessions over {WINDOW_DAYS} days ({time.perf_counter() - t0:.1f}s)",
            flush=True,
        )
        writer = IngestWriter(engine, max_pending=10**12)
        writer.start()
        inflight: deque[Any] = deque()
        written = {"obs": 0, "records": 0}
        total_obs = params.observations + params.large_observations
        started = time.perf_counter()
        last_report = started
        build_cpu = 0.0

        def submit(records: list[Any], obs: int) -> None:
            inflight.append((writer.submit(records), obs, len(records)))
            while len(inflight) > IN_FLIGHT:
                settle()

        def settle() -> None:
            future, obs, n_records = inflight.popleft()
            failures = future.result()
            if failures:
                first = next(iter(failures.items()))
                raise BenchFailed(f"{len(failures)} events could not be stored, e.g. {first}")
            written["obs"] += obs
            written["records"] += n_records

        def report(force: bool = False) -> None:
            nonlocal last_report
            t = time.perf_counter()
            if quiet or (not force and t - last_report < 5.0):
                return
            last_report = t
            elapsed = t - started
            rate = written["obs"] / elapsed if elapsed else 0.0
            left = (total_obs - written["obs"]) / rate if rate else float("inf")
            print(
                f"    {elapsed:6.0f}s  {written['obs']:>10,} / {total_obs:,} observations  "
                f"{rate:8,.0f} obs/s ({written['records'] / elapsed:,.0f} records/s)  "
                f"ETA {_duration(left)}",
                flush=True,
            )

        # Events are built and validated (parse_event) in worker processes, so that the writer
        # thread has this process's interpreter to itself.
        pool = (
            ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(params.seed,),
            )
            if workers > 0
            else None
        )
        builds: deque[Future[tuple[list[Any], int, int, float]]] = deque()
        chunk_starts = iter(range(0, len(plan.traces), CHUNK_TRACES))

        def request_build() -> bool:
            start = next(chunk_starts, None)
            if start is None:
                return False
            job = (params.seed, start, plan.traces[start : start + CHUNK_TRACES], now, project_id)
            if pool is not None:
                builds.append(pool.submit(build_chunk, *job))
            else:
                done: Future[tuple[list[Any], int, int, float]] = Future()
                done.set_result(build_chunk(*job, texts=texts))
                builds.append(done)
            return True

        scores = 0
        try:
            for _ in range(max(1, workers) * 3):
                request_build()
            while builds:
                records, obs, n_scores, cpu = builds.popleft().result()
                request_build()
                scores += n_scores
                build_cpu += cpu
                submit(records, obs)
                report()
            large_rng = random.Random(f"large-{params.seed}")
            deep_id, depth = "", 0
            if params.large_observations:
                batches, deep_id, depth = build_large_trace(
                    large_rng,
                    texts,
                    plan.large_trace_id,
                    plan.large_timestamp,
                    params.large_observations,
                )
                for batch in batches:
                    records = [r for event in batch for r in parse_event(event, project_id)]
                    submit(records, sum(1 for e in batch if e["type"] != "trace-create"))
                    report()
            while inflight:
                settle()
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            writer.stop(timeout=600)
        elapsed = time.perf_counter() - started
        report(force=True)
        rate = written["obs"] / elapsed
        print(
            f"    seeded {written['obs']:,} observations ({written['records']:,} records) in "
            f"{_duration(elapsed)}: {rate:,.0f} observations/s, {written['records'] / elapsed:,.0f} "
            f"records/s (building and validating the events: {build_cpu:.0f} s CPU in "
            f"{workers or 'no'} worker process{'es' if workers != 1 else ''})",
            flush=True,
        )
        t1 = time.perf_counter()
        with engine.connect() as conn:
            if target.label == "postgres":
                # What autovacuum does on a running server some time after a bulk load.
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("VACUUM ANALYZE")
                what = "VACUUM ANALYZE"
            else:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                what = "WAL checkpoint"
        print(f"    {what}: {time.perf_counter() - t1:.1f}s", flush=True)

        # What the pages will be asked for: the busiest user and session, an ordinary trace.
        with engine.connect() as conn:
            top_user = conn.execute(
                text(
                    "SELECT user_id, count(*) FROM traces WHERE project_id = :p AND user_id IS NOT NULL "
                    "GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1"
                ),
                {"p": project_id},
            ).one()
            top_session = conn.execute(
                text(
                    "SELECT session_id, count(*) FROM traces WHERE project_id = :p AND session_id IS NOT NULL "
                    "GROUP BY session_id ORDER BY count(*) DESC, session_id LIMIT 1"
                ),
                {"p": project_id},
            ).one()
            typical_user = conn.execute(
                text(
                    "SELECT user_id, count(*) FROM traces WHERE project_id = :p AND user_id IS NOT NULL "
                    "GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1 OFFSET :n"
                ),
                {"p": project_id, "n": plan.users // 10},
            ).one()
        normal = plan.traces[len(plan.traces) * 9 // 10]
        return {
            **asdict(params),
            "schema": schema,
            "migrations": migrations,
            "seeded_at": now.isoformat(),
            "project_id": project_id,
            "users": plan.users,
            "sessions": plan.sessions,
            "scores": scores,
            "seconds": round(elapsed, 1),
            "observations_per_s": round(rate),
            "records_per_s": round(written["records"] / elapsed),
            "large_trace_id": plan.large_trace_id if params.large_observations else None,
            "large_depth": depth,
            "deep_observation_id": deep_id,
            "normal_trace_id": normal.id,
            "normal_trace_observations": normal.observations,
            "top_user": [top_user[0], int(top_user[1])],
            "typical_user": [typical_user[0], int(typical_user[1])],
            "top_session": [top_session[0], int(top_session[1])],
        }
    finally:
        engine.dispose()


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def database_facts(target: Target) -> tuple[dict[str, int], int | None]:
    """Row counts per table and the database size in bytes."""
    from sqlalchemy import create_engine, text

    engine = create_engine(target.url)
    counts = {}
    try:
        with engine.connect() as conn:
            for table in ("traces", "observations", "trace_rollups", "scores"):
                counts[table] = int(
                    conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                )
            if target.label == "postgres":
                size = conn.execute(
                    text("SELECT pg_database_size(current_database())")
                ).scalar_one()
            else:
                path = _sqlite_path(target)
                size = sum(
                    Path(str(path) + s).stat().st_size
                    for s in ("", "-wal")
                    if Path(str(path) + s).exists()
                )
    finally:
        engine.dispose()
    return counts, int(size) if size is not None else None


# What seeding picks for the pages to ask for; a marker without one of them is out of date.
PICKED = ("project_id", "large_trace_id", "deep_observation_id", "normal_trace_id", "top_user")
PICKED += ("typical_user", "top_session", "migrations")


def prepare(target: Target, params: SeedParams, args: argparse.Namespace) -> dict[str, Any]:
    """A seeded database with a marker: the cached one if it matches, else a new one."""
    wanted = asdict(params)
    meta = None if args.reseed else read_meta(target, args.pg_admin_url)
    cached = meta is not None
    reason = "its seed parameters differ"
    if meta is not None and all(key in meta for key in PICKED):
        current = migration_hashes()
        edited = sorted(n for n, h in meta["migrations"].items() if current.get(n) != h)
        if edited:
            meta, reason = None, "migrations changed since it was seeded: " + ", ".join(edited)
        elif {k: meta.get(k) for k in wanted} != wanted:
            meta = None
        elif set(current) - set(meta["migrations"]):
            # A new migration (an index, say): apply it rather than seed 1M rows again.
            head = head_revision()
            print(
                f"    migrating the cached database from revision {meta.get('schema')} to {head} ...",
                flush=True,
            )
            t0 = time.perf_counter()
            migrate(target)
            meta.update(schema=head, migrations=current)
            write_meta(target, meta)
            print(f"    migrated in {time.perf_counter() - t0:.1f}s", flush=True)
    elif meta is not None:
        meta, reason = None, "its marker is from an older version of this script"
    if meta is not None:
        age = datetime.now(UTC) - datetime.fromisoformat(meta["seeded_at"])
        print(
            f"    reusing the database seeded {_duration(age.total_seconds())} ago "
            f"({meta['observations_per_s']:,} observations/s then); --reseed to seed again",
            flush=True,
        )
        if age > timedelta(hours=12):
            print(
                f"    ! seeded {age.total_seconds() / 3600:.0f} h ago: time ranges relative to now "
                "(24 h, 7 d, 30 d) hold less data than at seeding time; --reseed for exact figures",
                flush=True,
            )
        return meta
    if cached:
        print(f"    not reusing the cached database: {reason}", flush=True)
    drop_database(target, args.pg_admin_url)
    print(
        f"    seeding {params.traces:,} traces with {params.observations:,} observations "
        f"+ one trace of {params.large_observations:,} ...",
        flush=True,
    )
    meta = seed(target, params, args.workers, quiet=args.quiet)
    write_meta(target, meta)
    return meta


# --------------------------------------------------------------------------------------------
# Timing the pages
# --------------------------------------------------------------------------------------------


@dataclass
class Page:
    label: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class PageResult:
    page: Page
    status: int | None = None
    times_ms: list[float] = field(default_factory=list)
    size: int | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.times_ms)

    def median(self) -> float | None:
        return statistics.median(self.times_ms) if self.ok else None

    def p95(self) -> float | None:
        if not self.ok:
            return None
        data = sorted(self.times_ms)
        return data[min(len(data) - 1, max(0, math.ceil(0.95 * len(data)) - 1))]


def pages_for(meta: dict[str, Any]) -> list[Page]:
    pid = meta["project_id"]
    base = f"/project/{pid}"
    user = quote(meta["top_user"][0], safe="")
    session = quote(meta["top_session"][0], safe="")
    pages = [
        Page("traces: first page", f"{base}/traces"),
        Page(
            f"traces: user filter ({meta['top_user'][1]:,} tr.)",
            f"{base}/traces?{urlencode({'user': meta['top_user'][0]})}",
        ),
        Page(
            f"traces: user filter ({meta['typical_user'][1]:,} tr.)",
            f"{base}/traces?{urlencode({'user': meta['typical_user'][0]})}",
        ),
        Page("traces: errors, 7 days", f"{base}/traces?level=error&range=7d"),
        Page("traces: gpt-4o by latency", f"{base}/traces?model=gpt-4o&sort=latency"),
    ]
    for term in SEARCH_TERMS:
        pages.append(Page(f"traces: search {term!r}", f"{base}/traces?{urlencode({'q': term})}"))
    if meta.get("large_trace_id"):
        large = f"{base}/traces/{meta['large_trace_id']}"
        pages.append(Page(f"trace: large ({meta['large_observations']:,} obs)", large))
        node = f"{large}?{urlencode({'observation': meta['deep_observation_id']})}"
        pages.append(Page("trace: large, node panel (HTMX)", node, {"HX-Request": "true"}))
        pages.append(Page("trace: large, node selected (page)", node))
    pages += [
        Page(
            f"trace: normal ({meta['normal_trace_observations']} obs)",
            f"{base}/traces/{meta['normal_trace_id']}",
        ),
        Page("sessions list", f"{base}/sessions"),
        Page(f"session ({meta['top_session'][1]} traces)", f"{base}/sessions/{session}"),
        Page("users list", f"{base}/users"),
        Page(f"user ({meta['top_user'][1]:,} traces)", f"{base}/users/{user}"),
        # 6 h: the longest range read from the raw rows (longer ones read the hourly rollups).
        Page("metrics: 6 h", f"{base}/metrics?range=6h"),
        Page("metrics: 24 h", f"{base}/metrics?range=24h"),
        Page("metrics: 30 days", f"{base}/metrics?range=30d"),
        Page("settings: models & prices", f"{base}/settings/models"),
    ]
    return pages


def sign_in(base_url: str, timeout: float) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=timeout)
    page = client.get("/login")
    if page.status_code != 200:
        raise BenchFailed(f"GET /login answered {page.status_code}")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if not match:
        raise BenchFailed("the login form has no csrf_token field")
    response = client.post(
        "/login",
        data={
            "email": USER_EMAIL,
            "password": USER_PASSWORD,
            "next": "/",
            "csrf_token": match.group(1),
        },
    )
    if response.status_code != 303 or "spyglass_session" not in client.cookies:
        raise BenchFailed(f"sign-in failed: HTTP {response.status_code} {response.text[:200]}")
    return client


def time_pages(
    client: httpx.Client,
    pages: list[Page],
    requests: int,
    warmup: int,
    quiet: bool,
    slow_s: float = 5.0,
) -> list[PageResult]:
    """Time each page; one that takes over `slow_s` seconds gets only 3 timed requests."""
    results = []
    for page in pages:
        result = PageResult(page)
        results.append(result)
        planned = warmup + requests
        i = 0
        try:
            while i < planned:
                t0 = time.perf_counter()
                response = client.get(page.path, headers=page.headers)
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status_code != 200:
                    result.status = response.status_code
                    location = response.headers.get("location")
                    result.note = f"→ {location}" if location else ""
                    result.times_ms.clear()
                    break
                result.status = 200
                result.size = len(response.content)
                if i >= warmup:
                    result.times_ms.append(elapsed)
                elif elapsed > slow_s * 1000 and requests > 3:
                    # Minutes per page otherwise; the median of 3 says enough at this speed.
                    planned = i + 1 + 3
                    warmup = i + 1
                    result.note = "(3 requests: slow)"
                i += 1
        except httpx.HTTPError as exc:
            result.status = None
            result.note = f"{type(exc).__name__}: {exc}"[:120]
            result.times_ms.clear()
        if not quiet:
            print(f"      {_row(result)}", flush=True)
    return results


def _fmt(value: float | None, spec: str = ",.1f") -> str:
    return "—" if value is None else format(value, spec)


def _row(r: PageResult) -> str:
    status = str(r.status) if r.status is not None else "error"
    slow = " !" if (p := r.p95()) is not None and p > SLOW_MS else ""
    return (
        f"{_pad(r.page.label, 36)} median {_fmt(r.median()):>8} ms  p95 {_fmt(r.p95()):>8} ms{slow:2}  "
        f"{_fmt(r.size, ',d') if r.size is not None else '—':>10} B  {status} {r.note}"
    ).rstrip()


def print_table(label: str, results: list[PageResult]) -> None:
    headers = ["page", "median ms", "p95 ms", "bytes", "status"]
    rows = []
    for r in results:
        p95 = r.p95()
        rows.append(
            [
                r.page.label,
                _fmt(r.median()),
                _fmt(p95) + (" !" if p95 is not None and p95 > SLOW_MS else ""),
                f"{r.size:,}" if r.ok and r.size is not None else "—",
                (str(r.status) if r.status is not None else "error")
                + (f" {r.note}" if r.note else ""),
            ]
        )
    _table(f"{label}", headers, rows)


def _width(text: str) -> int:
    """Columns a text takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def _table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([_width(h), *(_width(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    last = len(headers) - 1

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            _pad(c, w) if i in (0, last) else _pad(c, w, right=True)
            for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    print(f"\n{title}")
    line = fmt(headers)
    print(line)
    print("-" * len(line))
    for row in rows:
        print(fmt(row))


def print_side_by_side(all_results: dict[str, list[PageResult]]) -> None:
    labels = list(all_results)
    headers = ["page"]
    for label in labels:
        headers += [f"{label} median", f"{label} p95"]
    headers.append("status")
    pages = [r.page.label for r in next(iter(all_results.values()))]
    rows = []
    for i, page in enumerate(pages):
        row = [page]
        statuses = []
        for label in labels:
            r = all_results[label][i]
            p95 = r.p95()
            row += [
                _fmt(r.median()),
                _fmt(p95) + (" !" if p95 is not None and p95 > SLOW_MS else ""),
            ]
            statuses.append(str(r.status) if r.status is not None else "error")
        row.append("/".join(statuses))
        rows.append(row)
    _table("side by side (ms; ! = p95 over 300 ms)", headers, rows)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


@dataclass
class DbRun:
    target: Target
    meta: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    size: int | None = None
    results: list[PageResult] = field(default_factory=list)
    peak_rss_mb: float | None = None
    error: str | None = None


def run_database(target: Target, params: SeedParams, args: argparse.Namespace) -> DbRun:
    run = DbRun(target)
    print(f"\n== {target.label} ({_safe(target.url)})", flush=True)
    try:
        run.meta = meta = prepare(target, params, args)
        run.counts, run.size = database_facts(target)
        size = f"{run.size / 2**20:,.0f} MiB" if run.size is not None else "?"
        print(
            "    rows: "
            + ", ".join(f"{table} {n:,}" for table, n in run.counts.items())
            + f"; {meta['users']:,} users, {meta['sessions']:,} sessions; database size {size}",
            flush=True,
        )
        if args.seed_only:
            return run
        log_dir = Path(tempfile.mkdtemp(prefix=f"spyglass-bench-dashboard-{target.label}-"))
        server = ServerProcess(target.url, args.port or free_port(), log_dir, args.server_env)
        try:
            print("    starting server ...", flush=True)
            server.start()
            client = sign_in(server.url, args.timeout)
            try:
                load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
                print(
                    f"    timing {args.requests} requests per page after {args.warmup} warm-up "
                    f"(large trace {meta.get('large_trace_id')}); load average {load} "
                    f"on {os.cpu_count()} CPUs:",
                    flush=True,
                )
                pages = pages_for({**meta, **asdict(params)})
                if args.pages:
                    labels = ", ".join(p.label for p in pages)
                    pages = [p for p in pages if re.search(args.pages, p.label)]
                    if not pages:
                        raise BenchFailed(f"--pages matches none of: {labels}")
                run.results = time_pages(
                    client,
                    pages,
                    args.requests,
                    args.warmup,
                    args.quiet,
                )
            finally:
                client.close()
            hwm = tree_status_kb(server.pid, "VmHWM") if server.pid else None
            run.peak_rss_mb = hwm / 1024 if hwm else None
        finally:
            server.stop()
            # Sign-in redirects are expected; everything else non-2xx is worth seeing.
            print_log_problems([x for x in server.log_problems() if '" 303 ' not in x])
            if args.keep_logs:
                print(f"    server log kept in {log_dir}")
            else:
                shutil.rmtree(log_dir, ignore_errors=True)
        print_table(f"{target.label}: pages", run.results)
        missing = [r.page.label for r in run.results if not r.ok]
        if missing:
            print(f"    ! no figures for {len(missing)} page(s) (not 200): " + ", ".join(missing))
        if run.peak_rss_mb:
            print(f"    server peak RSS {run.peak_rss_mb:,.0f} MB")
    except BenchFailed as exc:
        run.error = str(exc)
        print(f"    ! FAILED: {exc}", flush=True)
    return run


def _safe(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Spyglass dashboard benchmark: seed a big project, time the pages.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--traces", type=int, default=100_000, help="traces to seed")
    p.add_argument(
        "--observations", type=int, default=1_000_000, help="observations in those traces"
    )
    p.add_argument(
        "--large-trace",
        type=int,
        default=5000,
        help="observations of the one large trace seeded besides (0: none)",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed of the generated data")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where the seeded SQLite database is kept",
    )
    p.add_argument("--reseed", action="store_true", help="seed again even if the cache matches")
    p.add_argument(
        "--workers",
        type=int,
        default=max(1, min(4, (os.cpu_count() or 2) - 1)),
        help="processes building the events while seeding (0: in the writer's process)",
    )
    p.add_argument("--seed-only", action="store_true", help="seed (or check the cache), no timing")
    p.add_argument("--requests", type=int, default=20, help="timed requests per page")
    p.add_argument("--warmup", type=int, default=2, help="unmeasured requests per page first")
    p.add_argument(
        "--pages", metavar="REGEX", help="time only the pages whose label matches, e.g. 'metrics'"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds a page may take before it counts as failed",
    )
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN, help="libpq URL to create databases")
    p.add_argument(
        "--pg-database", default=DEFAULT_PG_DATABASE, help="PostgreSQL database kept seeded"
    )
    p.add_argument("--port", type=int, help="port for the started server (default: a free one)")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the started server (repeatable)",
    )
    p.add_argument("--keep-logs", action="store_true", help="keep the server log directories")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if args.traces < 1 or args.observations < 2 * args.traces:
        p.error("--traces must be at least 1 and --observations at least twice --traces")
    if args.requests < 1 or args.warmup < 0:
        p.error("--requests must be at least 1, --warmup at least 0")
    env = {}
    for item in args.server_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            p.error(f"--server-env wants NAME=VALUE, got {item!r}")
        env[name] = value
    args.server_env = env
    args.data_dir = args.data_dir.expanduser()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(argv)

    def _terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    params = SeedParams(args.traces, args.observations, args.large_trace, args.seed)
    targets = []
    if args.db in ("sqlite", "both"):
        targets.append(sqlite_target(args.data_dir))
    if args.db in ("postgres", "both"):
        targets.append(postgres_target(args.pg_admin_url, args.pg_database))
    runs: list[DbRun] = []
    try:
        for target in targets:
            runs.append(run_database(target, params, args))
    except KeyboardInterrupt:
        print(
            "\ninterrupted (a partly seeded database has no marker and is seeded again)",
            file=sys.stderr,
        )
        return 130
    timed = {r.target.label: r.results for r in runs if r.results}
    if len(timed) > 1:
        print_side_by_side(timed)
    for run in runs:
        if run.error:
            print(f"! {run.target.label}: {run.error}")
    print(f"\ncommand: {command}")
    return 1 if any(r.error for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
