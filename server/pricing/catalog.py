"""Model price definitions: the built-in table shipped with Spyglass and a project's own.

A definition matches model names by a regular expression, tried on the name as sent and on its
normalised form (`names.normalise_model_name`). Among the definitions that match, a project's
own come before built-in ones, and a newer start date before an older one — a definition whose
start date is after the observation does not apply to it.
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
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", compile_pattern(self.match_pattern))

    @property
    def builtin(self) -> bool:
        return self.project_id is None

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
