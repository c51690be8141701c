from __future__ import annotations

import re

DEFAULT_ENVIRONMENT = "default"
_VALID = re.compile(r"^[a-z0-9_-]+$")
_LANGFUSE_PREFIX = re.compile(r"^(langfuse[-_]?)+")


def normalise_environment(value: str | None) -> str:
    """Langfuse's rule: lower case, no `langfuse` prefix, ≤40 chars of [a-z0-9_-], else default."""
    if not value:
        return DEFAULT_ENVIRONMENT
    env = _LANGFUSE_PREFIX.sub("", value.strip().lower())[:40]
    return env if env and _VALID.match(env) else DEFAULT_ENVIRONMENT
