"""Model price definitions: the built-in table shipped with Spyglass and a project's own.

A definition matches model names by a regular expression, tried on the name as sent and on its
normalised form (`names.normalise_model_name`). Among the definitions that match, a project's
own come before built-in ones, and a newer start date before an older one — a definition whose
start date is after the observation does not apply to it.

A definition has default prices and may have tiers: other prices that apply when all of a
tier's conditions hold (e.g. "input tokens above 200,000", or "service_tier in [flex]" in the
model parameters). Tiers are tried by ascending priority; the first that holds wins.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from server.pricing.names import normalise_model_name

BUILTIN_FILE = Path(__file__).with_name("builtin_models.json")
PER_MILLION = 1_000_000


OPERATORS: dict[str, Any] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
}
ATTRIBUTE_SOURCES = ("model_parameters", "metadata")


@dataclass(frozen=True)
class UsageCondition:
    """The sum of the usage keys matching `pattern` compared with `value` (e.g. ^input > 200k)."""

    pattern: str
    operator: str
    value: float
    case_sensitive: bool = False
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise InvalidPattern(
                f"unknown operator {self.operator[:20]!r}: use {', '.join(OPERATORS)}"
            )
        flags = 0 if self.case_sensitive else re.IGNORECASE
        try:
            object.__setattr__(self, "compiled", re.compile(self.pattern, flags))
        except re.error as exc:
            raise InvalidPattern(f"usage pattern is not a regular expression: {exc}") from None

    def holds(self, usage: dict[str, int], attributes: dict[str, Any]) -> bool:
        total = sum(units for key, units in usage.items() if self.compiled.search(key))
        return bool(OPERATORS[self.operator](total, self.value))

    def as_json(self) -> dict[str, Any]:
        return {
            "usageDetailPattern": self.pattern,
            "operator": self.operator,
            "value": self.value,
            "caseSensitive": self.case_sensitive,
        }


@dataclass(frozen=True)
class AttributeCondition:
    """A top-level key of the observation's model parameters or metadata is one of `values`."""

    source: str
    key: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.source not in ATTRIBUTE_SOURCES:
            raise InvalidPattern(f"source must be one of {', '.join(ATTRIBUTE_SOURCES)}")

    def holds(self, usage: dict[str, int], attributes: dict[str, Any]) -> bool:
        found = attributes.get(self.source)
        if not isinstance(found, dict) or self.key not in found:
            return False
        value = found[self.key]
        return (value if isinstance(value, str) else json.dumps(value)) in self.values

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "key": self.key,
            "operator": "in",
            "values": list(self.values),
        }


Condition = UsageCondition | AttributeCondition


def condition_of(raw: dict[str, Any]) -> Condition:
    """A condition from its Langfuse JSON shape (raises InvalidPattern when malformed)."""
    if "usageDetailPattern" in raw:
        value = raw.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidPattern("a usage condition needs a numeric value")
        return UsageCondition(
            str(raw["usageDetailPattern"])[:200],
            str(raw.get("operator", "")),
            float(value),
            bool(raw.get("caseSensitive", False)),
        )
    if "source" in raw:
        values = raw.get("values")
        if raw.get("operator", "in") != "in" or not isinstance(values, list):
            raise InvalidPattern(
                "an attribute condition is {source, key, operator: in, values: [..]}"
            )
        return AttributeCondition(
            str(raw["source"]), str(raw.get("key", ""))[:200], tuple(str(v) for v in values)
        )
    raise InvalidPattern("a condition has usageDetailPattern/operator/value or source/key/values")


@dataclass(frozen=True)
class PriceTier:
    name: str
    priority: int
    conditions: tuple[Condition, ...]
    prices: dict[str, float]  # USD per unit

    def holds(self, usage: dict[str, int], attributes: dict[str, Any]) -> bool:
        return all(c.holds(usage, attributes) for c in self.conditions)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "priority": self.priority,
            "conditions": [c.as_json() for c in self.conditions],
            "prices": dict(self.prices),
        }


def tiers_of(raw: Any, scale: float = 1.0) -> tuple[PriceTier, ...]:
    """Tiers from stored JSON (prices divided by `scale`), by ascending priority."""
    if not isinstance(raw, list):
        return ()
    tiers = [
        PriceTier(
            name=str(t.get("name") or f"tier {i + 1}"),
            priority=int(t.get("priority", i + 1)),
            conditions=tuple(condition_of(c) for c in t.get("conditions", [])),
            prices={k: float(v) / scale for k, v in t.get("prices", {}).items()},
        )
        for i, t in enumerate(raw)
        if isinstance(t, dict)
    ]
    return tuple(sorted(tiers, key=lambda t: t.priority))


@dataclass(frozen=True)
class ModelPrice:
    id: str
    model_name: str
    match_pattern: str
    prices: dict[str, float]  # USD per unit (per token for TOKENS)
    start_date: datetime | None = None
    unit: str = "TOKENS"
    tokenizer: str | None = None
    project_id: str | None = None  # None: built in
    taken: date | None = None
    created_at: datetime | None = None
    tiers: tuple[PriceTier, ...] = ()  # conditional prices, by ascending priority
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", compile_pattern(self.match_pattern))

    @property
    def builtin(self) -> bool:
        return self.project_id is None

    def tier_for(
        self, usage: dict[str, int] | None, attributes: dict[str, Any]
    ) -> PriceTier | None:
        """The first tier whose conditions all hold; None: the default prices apply."""
        if not usage:
            return None
        for tier in self.tiers:
            if tier.holds(usage, attributes):
                return tier
        return None

    def matches(self, model: str, normalised: str | None = None) -> bool:
        if normalised is None:
            normalised = normalise_model_name(model)
        return bool(self.pattern.search(model) or self.pattern.search(normalised))


class InvalidPattern(ValueError):
    pass


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Case-insensitive unless the pattern says otherwise; `(?i)` prefixes are accepted."""
    if len(pattern) > 500:
        raise InvalidPattern("a match pattern has at most 500 characters")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise InvalidPattern(f"not a regular expression: {exc}") from None


@functools.cache
def builtin_models() -> tuple[ModelPrice, ...]:
    data: dict[str, Any] = json.loads(BUILTIN_FILE.read_text())
    found = []
    for entry in data["models"]:
        start = entry.get("start_date")
        found.append(
            ModelPrice(
                id=f"builtin:{entry['model_name']}" + (f"@{start}" if start else ""),
                model_name=entry["model_name"],
                match_pattern=entry["match_pattern"],
                prices={k: v / PER_MILLION for k, v in entry["prices"].items()},
                start_date=_day(start),
                tokenizer=entry.get("tokenizer"),
                taken=date.fromisoformat(entry["taken"]),
                tiers=tiers_of(entry.get("tiers"), PER_MILLION),
            )
        )
    return tuple(found)


def _day(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)


def find_price(
    candidates: list[ModelPrice] | tuple[ModelPrice, ...], model: str | None, at: datetime
) -> ModelPrice | None:
    """The definition that prices `model` at time `at`, or None."""
    if not model:
        return None
    normalised = normalise_model_name(model)
    best: ModelPrice | None = None
    best_key: tuple[int, datetime] | None = None
    for candidate in candidates:
        if candidate.start_date is not None and candidate.start_date > at:
            continue
        if not candidate.matches(model, normalised):
            continue
        key = (0 if candidate.builtin else 1, candidate.start_date or _EPOCH)
        if best_key is None or key > best_key:
            best, best_key = candidate, key
    return best


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
