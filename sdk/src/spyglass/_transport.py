"""The transport of one client: a bounded queue, batches, and the HTTP requests with retries.

The caller's thread only appends a record to a deque (`submit`), which never blocks: when the
queue is full the record is dropped and counted under `queue_full`. The process's sender thread
(`_worker.py`) drains the queue every `flush_interval` seconds, or early when `flush_at` records
wait or someone flushes. It turns each record into an event (one bad record is dropped, not its
batch), packs up to `flush_at` events and `max_batch_bytes` into one gzip'd
`POST /api/public/ingestion`, and retries network errors, 429 and 5xx with exponential backoff and
jitter, honouring `Retry-After`. Other 4xx answers are final; a 413 splits the batch. Every record
leaves the queue exactly once: sent, or dropped and counted by reason in `dropped`. A retried
request carries the same event ids, and each observation is one event, so a retry after a lost
answer overwrites on the server rather than duplicating.

`flush(timeout)` puts a marker in the queue and waits for the sender to reach it, so it returns
within `timeout` whatever the server does. A forked child notices the new pid on its first
`submit` or `flush` and starts over with an empty queue and a sender of its own; the parent's
records stay the parent's to send. httpx is imported on the sender thread, so importing the SDK
stays cheap.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from spyglass import _guard, _ids, _worker
from spyglass._events import encode_batch, shrunk

if TYPE_CHECKING:
    import httpx

INGESTION_PATH = "/api/public/ingestion"
MAX_RETRY_AFTER = 60.0
"""Longest wait a `Retry-After` header can impose, in seconds."""

_getpid = os.getpid


class _FlushMarker:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class Transport:
    """Delivers encoded records to one server from one background thread."""

    def __init__(
        self,
        *,
        base_url: str,
        public_key: str,
        secret_key: str,
        to_event: Callable[[object], dict[str, Any]],
        user_agent: str,
        flush_at: int = 500,
        flush_interval: float = 1.0,
        max_queue_size: int = 10_000,
        max_batch_bytes: int = 3_000_000,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        timeout: float = 10.0,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + INGESTION_PATH
        token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": user_agent,
        }
        self._to_event = to_event
        self._flush_at = max(1, flush_at)
        self.flush_interval = max(0.01, flush_interval)
        self._max_queue = max(1, max_queue_size)
        self._max_bytes = max_batch_bytes
        self._max_retries = max(0, max_retries)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._timeout = timeout
        self._http_transport = http_transport
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        """Fresh per-process state: at creation, and in a forked child."""
        self._pid = _getpid()
        self._queue: deque[object] = deque()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._dropped: dict[str, int] = {}
        self.sent = 0
        self._worker = _worker.current()
        self._worker.add(self)

    @property
    def dropped(self) -> dict[str, int]:
        """Records dropped so far, by reason."""
        with self._lock:
            return dict(self._dropped)

    def submit(self, record: object) -> bool:
        """Queue a record for sending. Never blocks; False when it was dropped instead."""
        if self._pid != _getpid():
            self._reset()
        queue = self._queue
        if self._closed:
            self._drop("shutdown")
            return False
        if len(queue) >= self._max_queue:
            self._drop("queue_full")
            return False
        queue.append(record)
        worker = self._worker
        pending = len(queue)
        if pending == 1:
            worker.hold(self)
            if worker.thread is None:
                worker.start()
        if pending % self._flush_at == 0:
            worker.wake.set()
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted so far was sent or dropped, at most `timeout` seconds.

        True when the worker got through it all in time.
        """
        if self._pid != _getpid():
            self._reset()
        worker = self._worker
        if not self._queue and worker.thread is None:
            return True
        if threading.current_thread() is worker.thread:
            return False  # the sender waiting for itself would only burn the timeout
        marker = _FlushMarker()
        self._queue.append(marker)  # markers bypass the bound: there is one per waiting caller
        worker.hold(self)
        if not worker.start():
            return False
        worker.wake.set()
        return marker.done.wait(max(0.0, timeout))

    def shutdown(self, timeout: float) -> bool:
        """Flush for at most `timeout` seconds, then stop sending: later records are dropped."""
        if self._closed:
            return True
        flushed = self.flush(timeout)
        self._closed = True
        self._stop.set()  # a retry still waiting gives up
        self._worker.wake.set()  # the sender closes the HTTP client once the queue is empty
        return flushed

    def _drop(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count

    # --- on the sender thread ----------------------------------------------------------------

    def _drain(self) -> None:
        events: list[dict[str, Any]] = []
        queue = self._queue
        while True:
            try:
                record = queue.popleft()
            except IndexError:
                break
            if type(record) is _FlushMarker:
                if events:
                    self._deliver(events)
                    events = []
                record.done.set()
                continue
            try:
                events.append(self._to_event(record))
            except Exception as exc:
                _guard.internal_error(exc, "converting a record to an event")
                self._drop("encoding_error")
                continue
            if len(events) >= self._flush_at:
                self._deliver(events)
                events = []
        if events:
            self._deliver(events)

    def _deliver(self, events: list[dict[str, Any]]) -> None:
        try:
            for body, chunk in self._bodies(events):
                if self._send(body, len(chunk)) == 413:
                    self._too_large(chunk)
        except Exception as exc:
            _guard.internal_error(exc, "sending a batch")
            self._drop("send_error", len(events))

    def _too_large(self, events: list[dict[str, Any]]) -> None:
        """The server found the request too large (413): send halves, or drop a lone event."""
        if len(events) > 1:
            half = len(events) // 2
            self._deliver(events[:half])
            self._deliver(events[half:])
            return
        self._drop("rejected_413")
        _guard.problem("rejected_413", "Spyglass refused an event as too large (HTTP 413)")

    def _bodies(self, events: list[dict[str, Any]]) -> list[tuple[bytes, list[dict[str, Any]]]]:
        """Request bodies for `events`, each under `max_batch_bytes`, with the events in each."""
        body = encode_batch(events)  # never raises: `dumps` falls back to converting values
        if len(body) <= self._max_bytes:
            return [(body, events)]
        if len(events) > 1:
            half = len(events) // 2
            return self._bodies(events[:half]) + self._bodies(events[half:])
        smaller = [shrunk(events[0], len(body))]
        body = encode_batch(smaller)
        if len(body) <= self._max_bytes:
            return [(body, smaller)]
        self._drop("too_large")
        _guard.problem("too_large", f"Spyglass dropped an event of {len(body)} bytes")
        return []

    def _send(self, body: bytes, count: int) -> int | None:
        """POST one body, retrying what can be retried. 413 is returned for the caller to split."""
        import httpx

        # gzip at level 1: most of the size gain for a third of level 6's time.
        packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        payload = packer.compress(body) + packer.flush()
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = self._client().post(self.url, content=payload, headers=self._headers)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status < 300:
                    self._accepted(response, count)
                    return None
                if status == 413:
                    return status
                failure = f"HTTP {status}: {response.text[:200]}"
                if status != 429 and status < 500:
                    self._drop(f"rejected_{status}", count)
                    _guard.problem(
                        f"rejected_{status}", f"Spyglass refused {count} events: {failure}"
                    )
                    return None
                wait = _retry_after(response.headers.get("retry-after"))
            if attempt > self._max_retries:
                self._drop("send_failed", count)
                _guard.problem(
                    "send_failed",
                    f"Spyglass dropped {count} events after {attempt} attempts to "
                    f"{self.url}: {failure}",
                )
                return None
            delay = wait if wait is not None else self._backoff(attempt)
            _guard.logger.debug("retrying %d events in %.2fs: %s", count, delay, failure)
            if not self._sleep(delay):
                self._drop("shutdown", count)
                return None

    def _accepted(self, response: httpx.Response, count: int) -> None:
        errors: list[Any] = []
        if response.status_code == 207:
            try:
                errors = list(response.json().get("errors") or [])
            except Exception:
                errors = []
        self.sent += count - len(errors)
        if errors:
            self._drop("rejected_event", len(errors))
            first = errors[0] if isinstance(errors[0], dict) else {}
            _guard.problem(
                "rejected_event",
                f"Spyglass rejected {len(errors)} of {count} events; first: "
                f"{first.get('status')} {first.get('message')} {str(first.get('error'))[:300]}",
            )
        if _guard.is_debug():
            _guard.logger.log(logging.DEBUG, "sent %d events to %s", count, self.url)

    def _backoff(self, attempt: int) -> float:
        delay: float = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return delay * (0.5 + 0.5 * _ids.chance())

    def _sleep(self, seconds: float) -> bool:
        """Wait between retries; False when the transport is shutting down instead."""
        return not self._stop.wait(seconds)

    def _client(self) -> httpx.Client:
        if self._http is None:
            import socket

            import httpx

            transport = self._http_transport
            if transport is None:
                # Without TCP_NODELAY a request's body waits for the ACK of its headers, and a
                # delayed ACK makes that 40 ms per request on Linux.
                transport = httpx.HTTPTransport(
                    socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
                )
            self._http = httpx.Client(
                transport=transport,
                timeout=httpx.Timeout(self._timeout, connect=min(5.0, self._timeout)),
            )
        return self._http

    def _close_http(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            try:
                http.close()
            except Exception as exc:  # pragma: no cover
                _guard.internal_error(exc, "closing the HTTP client")


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def shutdown_all(timeout: float) -> None:
    """At interpreter exit: flush every live transport, all within `timeout` seconds in total."""
    deadline = time.monotonic() + timeout
    for transport in list(_worker.current().transports):
        try:
            transport.shutdown(max(0.0, deadline - time.monotonic()))
        except Exception as exc:  # pragma: no cover
            _guard.internal_error(exc, "shutting down")
