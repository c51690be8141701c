"""Cost from usage × price, and the rules for when Spyglass computes it at all.

* A cost the client sent always wins; nothing is computed for that observation.
* No model, no matching definition or no usage: the cost is *unpriced* — NULL with a reason,
  never $0.
* A usage key without its own price is priced like its side (`input_cache_creation` like
  `input`), so tokens are never silently free; a definition that prices the key wins.
* A definition's tier whose conditions hold (e.g. input above 200k tokens) replaces its
  default prices; a key the tier does not price falls back to the default price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.pricing.catalog import ModelPrice, PriceTier


@dataclass(frozen=True)
class Priced:
    cost: dict[str, float] | None  # None: unpriced
    reason: str | None  # why it is unpriced, or which usage keys were left out
    tier: PriceTier | None = None  # the tier whose prices applied; None: the default ones


def price_for(key: str, prices: dict[str, float]) -> float | None:
    if key in prices:
        return prices[key]
    for side in ("input", "output"):
        if key.startswith(side + "_") and side in prices:
            return prices[side]
    return None


def compute_cost(
    usage: dict[str, int] | None,
    price: ModelPrice | None,
    model: str | None,
    attributes: dict[str, Any] | None = None,
) -> Priced:
    """`attributes`: the observation's model parameters and metadata, for tier conditions."""
    if not model:
        return Priced(None, "no model name")
    if price is None:
        return Priced(None, f"no price definition matches {model[:200]!r}")
    if not usage:
        return Priced(None, "no usage")
    tier = price.tier_for(usage, attributes or {})
    prices = price.prices if tier is None else {**price.prices, **tier.prices}
    cost: dict[str, float] = {}
    unpriced = []
    for key, units in usage.items():
        if key == "total":
            continue
        unit_price = price_for(key, prices)
        if unit_price is None:
            unpriced.append(key)
            continue
        cost[key] = units * unit_price
    if not cost:
        if "total" in usage and "total" in prices:
            return Priced({"total": usage["total"] * prices["total"]}, None, tier)
        return Priced(None, f"{price.model_name} has no price for {', '.join(sorted(usage))}")
    cost["total"] = sum(cost.values())
    # Keys the definition does not price (e.g. a custom "images") are left out, and said so.
    note = f"not priced: {', '.join(sorted(unpriced))}" if unpriced else None
    return Priced(cost, note, tier)
