"""The Langfuse-compatible model definition body (`POST /api/public/models`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.pricing.catalog import InvalidPattern, compile_pattern, condition_of

USAGE_KEY = r"^[A-Za-z0-9_.:-]{1,64}$"


class PricingTier(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    isDefault: bool = True
    priority: int = 0
    conditions: list[dict[str, Any]] = Field(default_factory=list, max_length=10)
    prices: dict[str, float]


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    modelName: str = Field(min_length=1, max_length=255)
    matchPattern: str = Field(min_length=1, max_length=500)
    startDate: datetime | None = None
    unit: str = Field(default="TOKENS", max_length=16)
    inputPrice: float | None = Field(default=None, ge=0)
    outputPrice: float | None = Field(default=None, ge=0)
    totalPrice: float | None = Field(default=None, ge=0)
    pricingTiers: list[PricingTier] | None = Field(default=None, max_length=20)
    tokenizerId: str | None = Field(default=None, max_length=64)
    tokenizerConfig: dict[str, Any] | None = None

    @field_validator("matchPattern")
    @classmethod
    def _a_regex(cls, value: str) -> str:
        try:
            compile_pattern(value)
        except InvalidPattern as exc:
            raise ValueError(str(exc)) from None
        return value

    def prices(self) -> dict[str, float]:
        """USD per unit by usage key: the default tier's, or the flat fields'."""
        found: dict[str, float] = {}
        for key, value in (
            ("input", self.inputPrice),
            ("output", self.outputPrice),
            ("total", self.totalPrice),
        ):
            if value is not None:
                found[key] = value
        defaults = [t for t in self.pricingTiers or [] if t.isDefault]
        if len(defaults) > 1:
            raise ValueError("only one pricing tier can be the default")
        for tier in defaults:
            if tier.conditions:
                raise ValueError("the default pricing tier has no conditions")
            found.update(_checked(tier.prices))
        return _checked(found)

    def tiers(self) -> list[dict[str, Any]]:
        """The conditional tiers, checked, as stored (see `catalog.PriceTier`)."""
        stored = []
        for tier in self.pricingTiers or []:
            if tier.isDefault:
                continue
            if not tier.conditions:
                raise ValueError(
                    f"pricing tier {tier.name or tier.priority!r} needs at least one condition "
                    "(or isDefault: true)"
                )
            if tier.priority <= 0:
                raise ValueError("a conditional tier's priority is 1 or more (the default is 0)")
            try:
                conditions = [condition_of(c).as_json() for c in tier.conditions]
            except InvalidPattern as exc:
                raise ValueError(str(exc)) from None
            stored.append(
                {
                    "name": (tier.name or f"tier {tier.priority}")[:100],
                    "priority": tier.priority,
                    "conditions": conditions,
                    "prices": _checked(tier.prices),
                }
            )
        if len({t["priority"] for t in stored}) != len(stored):
            raise ValueError("two pricing tiers have the same priority")
        return stored


def _checked(prices: dict[str, float]) -> dict[str, float]:
    for key, value in prices.items():
        if not re.match(USAGE_KEY, key):
            raise ValueError(f"{key[:80]!r} is not a usage key")
        if value < 0 or value != value or value == float("inf"):
            raise ValueError(f"the price of {key!r} must be a number ≥ 0")
    return prices
