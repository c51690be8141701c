"""Test helpers: a fake ingestion endpoint behind `httpx.MockTransport`, and a client for it."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

from spyglass import Spyglass

Responder = Callable[[httpx.Request], "httpx.Response | None"]


class Sink:
    """A fake ingestion endpoint: records the batches it accepts.

    `respond`, when set, sees each request first: a response it returns is the answer (and the
    batch counts as received if the status is under 300); None means "answer as usual": 207 with
    every event a success.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.batches: list[list[dict[str, Any]]] = []
        self.respond: Responder | None = None
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        response = None if self.respond is None else self.respond(request)
        if response is not None and response.status_code >= 300:
            return response
        batch = json.loads(gzip.decompress(request.content))["batch"]
        with self.lock:
            self.batches.append(batch)
        if response is not None:
            return response
        return httpx.Response(
            207, json={"successes": [{"id": e["id"], "status": 201} for e in batch], "errors": []}
        )

    @property
    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [event for batch in self.batches for event in batch]

    def bodies(self, event_type: str) -> list[dict[str, Any]]:
        return [e["body"] for e in self.events if e["type"] == event_type]

    def observations(self) -> list[dict[str, Any]]:
        return [
            {**e["body"], "type": e["type"].removesuffix("-create")}
            for e in self.events
            if e["type"] not in ("trace-create", "score-create")
        ]

    def observation(self, name: str) -> dict[str, Any]:
        found = [o for o in self.observations() if o["name"] == name]
        assert len(found) == 1, f"{len(found)} observations named {name!r}"
        return found[0]


def make_client(sink: Sink, **options: Any) -> Spyglass:
    options.setdefault("flush_interval", 0.05)
    return Spyglass(
        "http://spyglass.test",
        "pk-lf-test",
        "sk-lf-test",
        transport=httpx.MockTransport(sink),
        **options,
    )


def flushed(client: Spyglass) -> None:
    assert client.flush(timeout=5), "flush timed out"
