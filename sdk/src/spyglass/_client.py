"""The client: configuration, the process-wide active client, and exit handling."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spyglass import _env, _guard, _transport
from spyglass._events import EventEncoder

if TYPE_CHECKING:
    import httpx

__version__ = "0.1.0"

DEFAULT_FLUSH_TIMEOUT = 5.0
DEFAULT_SHUTDOWN_TIMEOUT = 2.0

_active: Spyglass | None = None
_active_lock = threading.Lock()
_warned_unconfigured = False


class Spyglass:
    """A connection to a Spyglass (or any Langfuse-compatible) server.

    Creating one makes it the client that `@observe`, `start_observation` and `score` report to
    (the most recently created one wins). Arguments left out are read from the environment:
    `SPYGLASS_BASE_URL`, `SPYGLASS_PUBLIC_KEY`, `SPYGLASS_SECRET_KEY` (or their `LANGFUSE_*`
    equivalents), `SPYGLASS_ENABLED`, `SPYGLASS_SAMPLE_RATE`, `SPYGLASS_ENVIRONMENT`,
    `SPYGLASS_RELEASE`, `SPYGLASS_DEBUG`. Without a URL and both keys the client is a no-op and
    says so once.

    Arguments:
        base_url: the server, e.g. `http://localhost:3000`.
        public_key, secret_key: a project's API keys.
        enabled: `False` turns every SDK call into a cheap no-op.
        sample_rate: fraction of traces kept (0.0–1.0), decided once at each trace's root, so a
            trace is kept or dropped whole.
        mask: called with every input, output and metadata value (and score comments) before it
            is sent, on the sender's thread; returns what to send instead. If it raises, the
            value is replaced by `"<masking failed>"`.
        environment: recorded on traces, observations and scores (e.g. `production`).
        release: recorded on traces.
        debug: log every SDK problem with its traceback (otherwise at most one a minute).
        flush_at: events per request; also how many waiting events wake the sender early.
        flush_interval: seconds between sends when traffic is light.
        max_queue_size: records waiting to be sent; past it new ones are dropped and counted.
        timeout: HTTP timeout per request, in seconds.
        max_retries: attempts after the first for network errors, 429 and 5xx.
        shutdown_timeout: how long the flush at interpreter exit may take, in seconds.
        transport: an `httpx` transport to send through (`httpx.MockTransport` in tests).
    """

    def __init__(
        self,
        base_url: str | None = None,
        public_key: str | None = None,
        secret_key: str | None = None,
        *,
        enabled: bool | None = None,
        sample_rate: float | None = None,
        mask: Callable[[Any], Any] | None = None,
        environment: str | None = None,
        release: str | None = None,
        debug: bool | None = None,
        flush_at: int = 500,
        flush_interval: float = 1.0,
        max_queue_size: int = 10_000,
        timeout: float = 10.0,
        max_retries: int = 5,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        global _active
        if debug is None:
            debug = _env.read_bool(_env.DEBUG)
        if debug:
            _guard.set_debug(True)
        self.base_url = base_url or _env.read(_env.BASE_URL)
        public_key = public_key or _env.read(_env.PUBLIC_KEY)
        secret_key = secret_key or _env.read(_env.SECRET_KEY)
        self.public_key = public_key
        if sample_rate is None:
            sample_rate = _env.read_float(_env.SAMPLE_RATE)
        self.sample_rate = 1.0 if sample_rate is None else min(1.0, max(0.0, float(sample_rate)))
        self.environment = environment or _env.read(_env.ENVIRONMENT)
        self.release = release or _env.read(_env.RELEASE)
        self.shutdown_timeout = shutdown_timeout
        if enabled is None:
            enabled = _env.read_bool(_env.ENABLED) is not False
        self._transport: _transport.Transport | None = None
        if enabled and not (self.base_url and public_key and secret_key):
            _warn_unconfigured()
            enabled = False
        self.enabled = bool(enabled)
        if self.enabled:
            assert self.base_url and public_key and secret_key
            self._transport = _transport.Transport(
                base_url=self.base_url,
                public_key=public_key,
                secret_key=secret_key,
                to_event=EventEncoder(
                    environment=self.environment, release=self.release, mask=mask
                ),
                user_agent=f"spyglass-python/{__version__}",
                flush_at=flush_at,
                flush_interval=flush_interval,
                max_queue_size=max_queue_size,
                max_retries=max_retries,
                timeout=timeout,
                http_transport=transport,
            )
        with _active_lock:
            _active = self

    def __repr__(self) -> str:
        state = f"base_url={self.base_url!r}" if self.enabled else "disabled"
        return f"<Spyglass {state}>"

    def flush(self, timeout: float = DEFAULT_FLUSH_TIMEOUT) -> bool:
        """Send everything recorded so far; wait at most `timeout` seconds.

        Returns True when all of it was sent (or dropped and counted) in time. Never raises,
        and never waits longer than `timeout`, even when the server hangs.
        """
        if self._transport is None:
            return True
        try:
            return self._transport.flush(timeout)
        except Exception as exc:  # pragma: no cover
            _guard.internal_error(exc, "flush")
            return False

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush (at most `timeout` seconds, default `shutdown_timeout`) and stop sending.

        Records made afterwards are dropped. Called for every client at interpreter exit.
        """
        if self._transport is None:
            return True
        try:
            return self._transport.shutdown(self.shutdown_timeout if timeout is None else timeout)
        except Exception as exc:  # pragma: no cover
            _guard.internal_error(exc, "shutdown")
            return False

    @property
    def dropped(self) -> dict[str, int]:
        """How many records were dropped instead of sent, by reason (`queue_full`, …)."""
        return {} if self._transport is None else self._transport.dropped

    def _submit(self, record: object) -> None:
        transport = self._transport
        if transport is not None:
            transport.submit(record)


def get_client() -> Spyglass:
    """The client `@observe` reports to: the last one created, or one from the environment."""
    client = _active
    if client is not None:
        return client
    with _active_lock:
        if _active is not None:
            return _active
    # Outside the lock: Spyglass() takes it to register itself.
    return Spyglass()


def _warn_unconfigured() -> None:
    global _warned_unconfigured
    if _warned_unconfigured:
        return
    _warned_unconfigured = True
    _guard.logger.warning(
        "Spyglass is not configured, so tracing is off: pass base_url, public_key and "
        "secret_key to Spyglass(...), or set SPYGLASS_BASE_URL, SPYGLASS_PUBLIC_KEY and "
        "SPYGLASS_SECRET_KEY."
    )


def _at_exit() -> None:
    timeouts = [c.shutdown_timeout for c in [_active] if c is not None]
    _transport.shutdown_all(max(timeouts, default=DEFAULT_SHUTDOWN_TIMEOUT))


atexit.register(_at_exit)
