"""Random ids and the sampling coin, from a generator of our own.

The app's `random.seed(42)` must not make our ids repeat across runs, so the SDK keeps its own
`random.Random`, seeded from the OS, and reseeds it in a forked child so that parent and child never
draw the same ids. Ids have the OpenTelemetry shapes: 32 hex digits for a trace, 16 for a span.
"""

from __future__ import annotations

import os
import random

_rng = random.Random()
_bits = _rng.getrandbits


def trace_id() -> str:
    return "%032x" % _bits(128)


def observation_id() -> str:
    return "%016x" % _bits(64)


def event_id() -> str:
    return "%032x" % _bits(128)


def chance() -> float:
    """A uniform draw in [0, 1), for sampling and jitter."""
    return _rng.random()


def _reseed() -> None:
    _rng.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)
