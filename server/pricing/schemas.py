"""The Langfuse-compatible model definition body (`POST /api/public/models`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.pricing.catalog import InvalidPattern, compile_pattern

USAGE_KEY = r"^[A-Za-z0-9_.:-]{1,64}$"


class PricingTier(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    isDefault: bool = True
    priority: int = 0
    conditions: list[Any] = Field(default_factory=list)
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
    pricingTiers: list[PricingTier] | None = None
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
        """USD per unit by usage key, from the default tier or the flat fields."""
        found: dict[str, float] = {}
        for key, value in (
            ("input", self.inputPrice),
            ("output", self.outputPrice),
            ("total", self.totalPrice),
        ):
            if value is not None:
                found[key] = value
        for tier in self.pricingTiers or []:
            if tier.conditions:
                raise ValueError(
                    "pricing tiers with conditions are not supported yet; send one default tier"
                )
            found.update(tier.prices)
        import re

        for key, value in found.items():
            if not re.match(USAGE_KEY, key):
                raise ValueError(f"{key[:80]!r} is not a usage key")
            if value < 0 or value != value:
                raise ValueError(f"the price of {key!r} must be a number ≥ 0")
        return found
