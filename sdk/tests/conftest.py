"""Fixtures for the SDK tests: a capturing sink behind `httpx.MockTransport`, and loud SDK errors.

Like sentry-python's `internal_exceptions` fixture, `internal_errors` (autouse) collects every
internal error the SDK swallowed during a test and fails the test with the first one, so that a
bug hidden from users in production cannot hide from the tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from support import Sink, make_client

from spyglass import Spyglass, _client, _guard


@pytest.fixture(autouse=True)
def internal_errors() -> Iterator[list[BaseException]]:
    errors: list[BaseException] = []
    _guard.set_error_hook(errors.append)
    _guard.set_debug(True)
    try:
        yield errors
    finally:
        _guard.set_error_hook(None)
        _guard.set_debug(False)
        _guard.reset_rate_limits()
    if errors:
        raise errors[0]


@pytest.fixture(autouse=True)
def clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No configuration leaks in from the environment or from the previous test."""
    for name in list(os.environ):
        if name.startswith(("SPYGLASS_", "LANGFUSE_")):
            monkeypatch.delenv(name)
    _client._active = None
    _client._warned_unconfigured = False
    yield
    active = _client._active
    if active is not None:
        active.shutdown(timeout=2)
    _client._active = None


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def client(sink: Sink) -> Iterator[Spyglass]:
    client = make_client(sink)
    yield client
    client.shutdown(timeout=2)
