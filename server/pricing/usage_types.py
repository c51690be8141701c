"""Usage keys grouped into the few types a cost chart shows.

Clients and conventions name the same kind of token differently (`input_cached_tokens`,
`input_cache_read`, `cache_read_input_tokens`…); the chart needs a short, fixed set of
types whatever they send, so that a custom key never adds a series of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

INPUT = "input"
OUTPUT = "output"
CACHE_READ = "cached input"
CACHE_WRITE = "cache write"
REASONING = "reasoning"
AUDIO = "audio"
IMAGES = "images"
OTHER = "other"
# A cost sent as one total (or a total larger than its parts): no split to show.
UNSPLIT = "not split"

# Chart order: the types most costs are made of first.
TYPES = (INPUT, OUTPUT, CACHE_READ, CACHE_WRITE, REASONING, AUDIO, IMAGES, OTHER, UNSPLIT)
# Rounding noise when a total is compared with the sum of its parts (sums of many floats
# differ in their last digits); a real unsplit cost below a billionth of a dollar is noise too.
_TOLERANCE = 1e-9


def usage_type(key: str) -> str | None:
    """The type of a usage or cost key; None for `total`, which is no type of its own."""
    name = key.lower()
    if name == "total":
        return None
    if name == "input":
        return INPUT
    if name == "output":
        return OUTPUT
    if "cache" in name:
        return CACHE_WRITE if ("creation" in name or "write" in name) else CACHE_READ
    if "reasoning" in name:
        return REASONING
    if "audio" in name:
        return AUDIO
    if "image" in name:
        return IMAGES
    if name.startswith("input"):
        return INPUT
    if name.startswith("output"):
        return OUTPUT
    return OTHER


def cost_by_type(cost: Mapping[str, float] | None) -> dict[str, float]:
    """One observation's cost details per type; they add up to its total cost."""
    if not cost:
        return {}
    found: dict[str, float] = {}
    for key, amount in cost.items():
        kind = usage_type(key)
        if kind is not None:
            found[kind] = found.get(kind, 0.0) + amount
    add_unsplit(found, cost.get("total"))
    return found


def add_unsplit(parts: dict[str, float], total: float | None) -> None:
    """What a total holds beyond its parts goes to UNSPLIT."""
    if total is None:
        return
    rest = total - sum(parts.values())
    if rest > _TOLERANCE * max(1.0, abs(total)):
        parts[UNSPLIT] = parts.get(UNSPLIT, 0.0) + rest


def ordered(types: Iterable[str]) -> list[str]:
    present = set(types)
    return [t for t in TYPES if t in present]
