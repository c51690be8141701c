"""The background transport: one daemon thread per client and process, a bounded queue, batches.

The caller's thread only appends a record to a deque (`submit`), which never blocks: when the
queue is full the record is dropped and counted under `queue_full`. The worker thread wakes every
`flush_interval` seconds (with jitter), or early when `flush_at` records wait or someone flushes.
It encodes each record on its own (one bad record is dropped, not its batch), packs up to
`flush_at` events or `max_batch_bytes` into one gzip'd `POST /api/public/ingestion`, and retries
network errors, 429 and 5xx with exponential backoff and jitter, honouring `Retry-After`. Other
4xx answers are final. Every record leaves the queue exactly once: sent, or dropped and counted
by reason in `dropped`.

`flush(timeout)` puts a marker in the queue and waits for the worker to reach it, so it returns
within `timeout` whatever the server does. A forked child notices the new pid on its first
`submit` or `flush` and starts over with an empty queue and a thread of its own; the parent's
records stay the parent's to send. httpx is imported by the worker, so importing the SDK stays
cheap.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from spyglass import _guard, _ids

if TYPE_CHECKING:
    import httpx

INGESTION_PATH = "/api/public/ingestion"
MAX_RETRY_AFTER = 60.0
"""Longest wait a `Retry-After` header can impose, in seconds."""

_live: weakref.WeakSet[Transport] = weakref.WeakSet()
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
        encode: Callable[[object], bytes],
        user_agent: str,
        flush_at: int = 200,
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
        self._encode = encode
        self._flush_at = max(1, flush_at)
        self._interval = max(0.01, flush_interval)
        self._max_queue = max(1, max_queue_size)
        self._max_bytes = max_batch_bytes
        self._max_retries = max(0, max_retries)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._timeout = timeout
        self._http_transport = http_transport
        self._closed = False
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        """Fresh per-process state: at creation, and in a forked child."""
        self._pid = _getpid()
        self._queue: deque[object] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self._dropped: dict[str, int] = {}
        self.sent = 0

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
        if self._thread is None:
            self._start()
        if len(queue) % self._flush_at == 0:
            self._wake.set()
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted so far was sent or dropped, at most `timeout` seconds.

        True when the worker got through it all in time.
        """
        if self._pid != _getpid():
            self._reset()
        if self._thread is None and not self._queue:
            return True
        if threading.current_thread() is self._thread:
            return False  # the worker waiting for itself would only burn the timeout
        marker = _FlushMarker()
        self._queue.append(marker)  # markers bypass the bound: there is one per waiting caller
        if self._thread is None:
            self._start()
        self._wake.set()
        return marker.done.wait(max(0.0, timeout))

    def shutdown(self, timeout: float) -> bool:
        """Flush for at most `timeout` seconds, then stop the worker. Later records are dropped."""
        if self._closed:
            return True
        flushed = self.flush(timeout)
        self._closed = True
        self._stop.set()
        self._wake.set()
        _live.discard(self)
        return flushed

    def _drop(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._run, name="spyglass-transport", daemon=True)
            try:
                thread.start()
            except RuntimeError as exc:  # "can't create new thread at interpreter shutdown"
                _guard.problem("thread", f"Spyglass could not start its sender: {exc}")
                self._closed = True
                return
            self._thread = thread

    # --- the worker thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval * (0.9 + 0.2 * _ids.chance()))
            self._wake.clear()
            try:
                self._drain()
            except Exception as exc:  # pragma: no cover - _drain guards each step itself
                _guard.internal_error(exc, "the transport loop")
            if self._stop.is_set() and not self._queue:
                break
        self._close_http()

    def _drain(self) -> None:
        batch: list[bytes] = []
        size = 0
        queue = self._queue
        while True:
            try:
                record = queue.popleft()
            except IndexError:
                break
            if type(record) is _FlushMarker:
                if batch:
                    self._send_guarded(batch)
                    batch, size = [], 0
                record.done.set()
                continue
            data = self._encoded(record)
            if data is None:
                continue
            if batch and (len(batch) >= self._flush_at or size + len(data) > self._max_bytes):
                self._send_guarded(batch)
                batch, size = [], 0
            batch.append(data)
            size += len(data) + 1
        if batch:
            self._send_guarded(batch)

    def _encoded(self, record: object) -> bytes | None:
        try:
            data = self._encode(record)
        except Exception as exc:
            _guard.internal_error(exc, "encoding an event")
            self._drop("encoding_error")
            return None
        if len(data) > self._max_bytes:
            self._drop("too_large")
            _guard.problem("too_large", f"Spyglass dropped an event of {len(data)} bytes")
            return None
        return data

    def _send_guarded(self, events: list[bytes]) -> None:
        try:
            self._send(events)
        except Exception as exc:
            _guard.internal_error(exc, "sending a batch")
            self._drop("send_error", len(events))

    def _send(self, events: list[bytes]) -> None:
        import httpx

        payload = gzip.compress(b'{"batch":[' + b",".join(events) + b"]}", 6, mtime=0)
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
                    self._accepted(response, len(events))
                    return
                if status == 413 and len(events) > 1:
                    half = len(events) // 2
                    self._send(events[:half])
                    self._send(events[half:])
                    return
                failure = f"HTTP {status}: {response.text[:200]}"
                if status != 429 and status < 500:
                    self._drop(f"rejected_{status}", len(events))
                    _guard.problem(f"rejected_{status}", f"Spyglass refused {len(events)} events: {failure}")
                    return
                wait = _retry_after(response.headers.get("retry-after"))
            if attempt > self._max_retries:
                self._drop("send_failed", len(events))
                _guard.problem(
                    "send_failed",
                    f"Spyglass dropped {len(events)} events after {attempt} attempts to "
                    f"{self.url}: {failure}",
                )
                return
            delay = wait if wait is not None else self._backoff(attempt)
            _guard.logger.debug("retrying %d events in %.2fs: %s", len(events), delay, failure)
            if not self._sleep(delay):
                self._drop("shutdown", len(events))
                return

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
        delay = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        return delay * (0.5 + 0.5 * _ids.chance())

    def _sleep(self, seconds: float) -> bool:
        """Wait between retries; False when the transport is shutting down instead."""
        return not self._stop.wait(seconds)

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(
                transport=self._http_transport,
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
    for transport in list(_live):
        try:
            transport.shutdown(max(0.0, deadline - time.monotonic()))
        except Exception as exc:  # pragma: no cover
            _guard.internal_error(exc, "shutting down")
