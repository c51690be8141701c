"""The process's one sender thread, shared by every live transport.

A daemon thread, started on the first record. It sleeps until the shortest `flush_interval` of
the live transports has passed (with ±10% jitter, so that many processes started together do not
send in lockstep), or until a transport wakes it because `flush_at` records wait or a flush was
asked for; then it drains every transport in turn.

Transports are held weakly, so a client the app dropped can be collected, but strongly while they
hold records, so that nothing queued is lost to the garbage collector. After `os.fork()` the
child's first call to `current()` builds a new worker: the parent's thread does not exist there.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING

from spyglass import _guard, _ids

if TYPE_CHECKING:
    from spyglass._transport import Transport

THREAD_NAME = "spyglass-sender"
DEFAULT_INTERVAL = 1.0


class Worker:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.transports: weakref.WeakSet[Transport] = weakref.WeakSet()
        self.holding: set[Transport] = set()
        self._lock = threading.Lock()

    def add(self, transport: Transport) -> None:
        self.transports.add(transport)

    def hold(self, transport: Transport) -> None:
        """Keep `transport` alive until its queue is drained."""
        self.holding.add(transport)

    def start(self) -> bool:
        """Start the thread if it is not running; False if it cannot be started."""
        with self._lock:
            if self.thread is not None:
                return True
            thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
            try:
                thread.start()
            except RuntimeError as exc:  # "can't create new thread at interpreter shutdown"
                _guard.problem("thread", f"Spyglass could not start its sender: {exc}")
                return False
            self.thread = thread
            return True

    def _interval(self) -> float:
        intervals = [t.flush_interval for t in list(self.transports)]
        return min(intervals, default=DEFAULT_INTERVAL) * (0.9 + 0.2 * _ids.chance())

    def _run(self) -> None:
        while True:
            self.wake.wait(self._interval())
            self.wake.clear()
            self._drain_all()  # a call of its own, so that no transport is referenced in between

    def _drain_all(self) -> None:
        for transport in list(self.transports):
            try:
                transport._drain()
            except Exception as exc:  # pragma: no cover - _drain guards each step itself
                _guard.internal_error(exc, "the sender loop")
            if not transport._queue:
                self.holding.discard(transport)
                if transport._queue:  # a record arrived meanwhile
                    self.holding.add(transport)
                elif transport._closed:
                    transport._close_http()
                    self.transports.discard(transport)


_worker = Worker()


def current() -> Worker:
    """This process's worker (a new one in a forked child)."""
    global _worker
    worker = _worker
    if worker.pid != os.getpid():
        worker = _worker = Worker()
    return worker
