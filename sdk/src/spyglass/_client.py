"""The client: configuration, the process-wide active client, and exit handling."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spyglass import _env, _guard, _prompts, _transport
from spyglass._events import EventEncoder

if TYPE_CHECKING:
    import httpx

    from spyglass._prompts import ChatPrompt, PromptType, TextPrompt

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
        transport: an `httpx` transport to send through (`httpx.MockTransport` in tests); also
            used by `get_prompt`.
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
        self._prompts: _prompts.PromptSource | None = None
        if self.base_url and public_key and secret_key:
            # Prompts are a read the app asks for: served even when tracing is turned off.
            self._prompts = _prompts.PromptSource(
                base_url=self.base_url,
                public_key=public_key,
                secret_key=secret_key,
                user_agent=f"spyglass-python/{__version__}",
                http_transport=transport,
            )
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
        if self._prompts is not None:
            self._prompts.close()
        if self._transport is None:
            return True
        try:
            return self._transport.shutdown(self.shutdown_timeout if timeout is None else timeout)
        except Exception as exc:  # pragma: no cover
            _guard.internal_error(exc, "shutdown")
            return False

    def get_prompt(
        self,
        name: str,
        *,
        version: int | None = None,
        label: str | None = None,
        cache_ttl_seconds: float = _prompts.DEFAULT_CACHE_TTL,
        fallback: str | list[dict[str, Any]] | None = None,
        type: PromptType | None = None,
        fetch_timeout_seconds: float = _prompts.DEFAULT_FETCH_TIMEOUT,
    ) -> TextPrompt | ChatPrompt:
        """The prompt `name` from the server: a `TextPrompt` or a `ChatPrompt`.

        `version` picks a version, `label` a label; with neither, the `production` label.
        Answers are cached per (name, version, label) for `cache_ttl_seconds`; after that the
        cached prompt is still returned at once while one background fetch refreshes it, so only
        the first call for a prompt waits for the server (at most `fetch_timeout_seconds`).
        `cache_ttl_seconds=0` fetches on every call.

        When that first fetch fails (server unreachable, an error, or no such prompt), the
        prompt is built from `fallback` (a string for a text prompt, a list of
        `{"role", "content"}` messages for a chat prompt; `type` says which when it is
        ambiguous), with `is_fallback=True` and version 0; a fallback is never linked to
        generations. Without a fallback this raises `LookupError` (`PromptNotAvailable`): the
        only exception the SDK raises to the app.
        """
        if version is not None and label is not None:
            raise ValueError("get_prompt() takes a version or a label, not both")
        source = self._prompts
        if source is not None:
            try:
                return source.get(
                    str(name), version, label, float(cache_ttl_seconds), fetch_timeout_seconds
                )
            except _prompts.PromptNotAvailable:
                if fallback is None:
                    raise
            except Exception as exc:
                _guard.internal_error(exc, "get_prompt")
                if fallback is None:
                    raise _prompts.PromptNotAvailable(
                        f"could not fetch prompt {name!r}: {exc!r}"
                    ) from exc
        elif fallback is None:
            raise _prompts.PromptNotAvailable(
                f"cannot fetch prompt {name!r}: Spyglass is not configured (base_url, "
                "public_key and secret_key are needed) and no fallback was given"
            )
        return _prompts.from_fallback(str(name), fallback, type)

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


def get_prompt(
    name: str,
    *,
    version: int | None = None,
    label: str | None = None,
    cache_ttl_seconds: float = _prompts.DEFAULT_CACHE_TTL,
    fallback: str | list[dict[str, Any]] | None = None,
    type: PromptType | None = None,
    fetch_timeout_seconds: float = _prompts.DEFAULT_FETCH_TIMEOUT,
) -> TextPrompt | ChatPrompt:
    """`get_client().get_prompt(...)`: see `Spyglass.get_prompt`."""
    return get_client().get_prompt(
        name,
        version=version,
        label=label,
        cache_ttl_seconds=cache_ttl_seconds,
        fallback=fallback,
        type=type,
        fetch_timeout_seconds=fetch_timeout_seconds,
    )


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
