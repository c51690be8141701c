"""Every environment variable the SDK reads, in one place.

Explicit arguments to `Spyglass(...)` win over these. The `LANGFUSE_*` names are read as fallbacks so
that an app already configured for Langfuse reports to Spyglass unchanged. `SPYGLASS_HOST` is *not*
read: it is the server's bind address, and a client that picked it up would post to `127.0.0.1`.
"""

from __future__ import annotations

import os

BASE_URL = ("SPYGLASS_BASE_URL", "LANGFUSE_BASE_URL", "LANGFUSE_HOST")
"""URL of the Spyglass (or Langfuse-compatible) server, e.g. `http://localhost:3000`."""

PUBLIC_KEY = ("SPYGLASS_PUBLIC_KEY", "LANGFUSE_PUBLIC_KEY")
"""Project public key (`pk-lf-…`)."""

SECRET_KEY = ("SPYGLASS_SECRET_KEY", "LANGFUSE_SECRET_KEY")
"""Project secret key (`sk-lf-…`)."""

ENABLED = ("SPYGLASS_ENABLED",)
"""`false`/`0`/`no`/`off` turns the SDK into a no-op without touching code."""

SAMPLE_RATE = ("SPYGLASS_SAMPLE_RATE",)
"""Fraction of traces to keep, 0.0–1.0 (default 1.0). Decided once per trace, at its root."""

ENVIRONMENT = ("SPYGLASS_ENVIRONMENT",)
"""Environment recorded on every trace, observation and score (e.g. `production`)."""

RELEASE = ("SPYGLASS_RELEASE",)
"""Release recorded on every trace (e.g. a git sha)."""

DEBUG = ("SPYGLASS_DEBUG",)
"""`true` logs every SDK problem with its traceback instead of at most one a minute."""


def read(names: tuple[str, ...]) -> str | None:
    """The first non-empty value among `names`."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def read_bool(names: tuple[str, ...]) -> bool | None:
    value = read(names)
    if value is None:
        return None
    return value.lower() not in ("0", "false", "no", "off")


def read_float(names: tuple[str, ...]) -> float | None:
    value = read(names)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
