"""Usage and cost as clients send them, normalised to flat `{key: int}` / `{key: float}` maps.

Key names follow Langfuse: `input`, `output`, `total`, and detail keys such as
`input_cached_tokens` or `output_reasoning_tokens`. Detail counts are taken out of `input` /
`output` so that summing the keys never counts a token twice.
"""

from __future__ import annotations

import math
from typing import Any

_OPENAI_SHAPES = (
    ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"),
    ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"),
)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if math.isfinite(number) and number >= 0 else None
    return None


def _price(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


_ANTHROPIC_CACHE = {
    "cache_read_input_tokens": "input_cached_tokens",
    "cache_creation_input_tokens": "input_cache_creation",
}


def usage_details(raw: Any) -> dict[str, int]:
    """`usageDetails`: a flat map, or OpenAI Chat Completions / Responses or Anthropic usage."""
    if not isinstance(raw, dict):
        return {}
    if any(key in raw for key in _ANTHROPIC_CACHE) and (
        "input_tokens" in raw or "output_tokens" in raw
    ):
        return _anthropic_usage(raw)
    for prompt_key, completion_key, prompt_details, completion_details in _OPENAI_SHAPES:
        if prompt_key in raw or completion_key in raw:
            return _openai_usage(
                raw, prompt_key, completion_key, prompt_details, completion_details
            )
    return {
        _ANTHROPIC_CACHE[k] if k in _ANTHROPIC_CACHE else str(k): n
        for k, v in raw.items()
        if (n := _count(v)) is not None
    }


def _openai_usage(
    raw: dict[str, Any], prompt_key: str, completion_key: str, prompt_det: str, completion_det: str
) -> dict[str, int]:
    result: dict[str, int] = {}
    for side, key, details_key in (
        ("input", prompt_key, prompt_det),
        ("output", completion_key, completion_det),
    ):
        amount = _count(raw.get(key))
        details = raw.get(details_key)
        if isinstance(details, dict):
            for detail, value in details.items():
                detail_count = _count(value)
                if detail_count is None:
                    continue
                result[f"{side}_{detail}"] = detail_count
                if amount is not None:
                    amount = max(0, amount - detail_count)
        if amount is not None:
            result[side] = amount
    total = _count(raw.get("total_tokens"))
    if total is not None:
        result["total"] = total
    return result


def _anthropic_usage(raw: dict[str, Any]) -> dict[str, int]:
    """Anthropic's Messages API counts cache reads and writes *outside* `input_tokens`."""
    result: dict[str, int] = {}
    for source, key in (
        ("input_tokens", "input"),
        ("output_tokens", "output"),
        *_ANTHROPIC_CACHE.items(),
    ):
        if (count := _count(raw.get(source))) is not None:
            result[key] = count
    return with_total(result)


def exclusive_input(usage: dict[str, int], side: str, details: tuple[str, ...]) -> None:
    """Make `usage[side]` exclude its detail counts, if the sender included them.

    Conventions disagree: GenAI and OpenAI include cache (and reasoning) tokens in the side's
    count, raw Anthropic usage does not. A side smaller than its details cannot include them.
    """
    if side not in usage:
        return
    detail_sum = sum(usage.get(d, 0) for d in details)
    if usage[side] >= detail_sum:
        usage[side] -= detail_sum


def legacy_usage(raw: Any) -> tuple[dict[str, int], dict[str, float], str | None]:
    """The legacy `usage` object: `{input, output, total, unit, *Cost}` or OpenAI camelCase."""
    if not isinstance(raw, dict) or not raw:
        return {}, {}, None
    aliases = {
        "input": ("input", "promptTokens"),
        "output": ("output", "completionTokens"),
        "total": ("total", "totalTokens"),
    }
    usage: dict[str, int] = {}
    for key, names in aliases.items():
        for name in names:
            if (count := _count(raw.get(name))) is not None:
                usage[key] = count
                break
    cost: dict[str, float] = {}
    for key in ("input", "output", "total"):
        if (price := _price(raw.get(f"{key}Cost"))) is not None:
            cost[key] = price
    unit = raw.get("unit")
    if "promptTokens" in raw or "completionTokens" in raw:
        unit = unit or "TOKENS"
    return usage, cost, unit if isinstance(unit, str) else None


def cost_details(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict):
        return {}
    return {k: p for k, v in raw.items() if (p := _price(v)) is not None}


def with_total(usage: dict[str, int]) -> dict[str, int]:
    """Add `total` as the sum of the other keys when the client sent usage without one."""
    if usage and "total" not in usage:
        return {**usage, "total": sum(usage.values())}
    return usage


def total_cost(cost: dict[str, float] | None) -> float | None:
    if not cost:
        return None
    if "total" in cost:
        return cost["total"]
    return sum(cost.values())


def token_totals(usage: dict[str, int] | None) -> tuple[int | None, int | None, int | None]:
    """(input, output, total) tokens of a usage map; detail keys count toward their side."""
    if not usage:
        return None, None, None
    inputs = [v for k, v in usage.items() if k.startswith("input")]
    outputs = [v for k, v in usage.items() if k.startswith("output")]
    total = usage.get("total")
    if total is None:
        total = sum(v for k, v in usage.items() if k != "total")
    return (sum(inputs) if inputs else None, sum(outputs) if outputs else None, total)
