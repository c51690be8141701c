"""Metrics arithmetic, with no database: the window a page covers, percentiles, rates, series.

Percentiles interpolate linearly between the two nearest ranks, exactly as PostgreSQL's
`percentile_cont` does (`lo + (hi - lo) * fraction` at position `p * (n - 1)`). PostgreSQL
computes them in SQL; on SQLite the query fetches only the values at those ranks and
`from_ranks` finishes the job here, so both databases show the same figures for the same data.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from web.timerange import TimeRange

PERCENTILES = (0.5, 0.95, 0.99)
# Every metrics query is bounded by time; "all time" and longer custom ranges are cut to this.
MAX_SPAN = timedelta(days=90)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Percentiles:
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Percentiles:
        """From values in PERCENTILES order."""
        return cls(*values[: len(PERCENTILES)])


@dataclass(frozen=True)
class Bounds:
    start: datetime
    end: datetime
    clamped: bool  # the range asked for was longer than MAX_SPAN

    @property
    def span(self) -> timedelta:
        return self.end - self.start


def bounds(chosen: TimeRange, now: datetime) -> Bounds:
    """The concrete [start, end) a range covers, at most MAX_SPAN long (ending at its end)."""
    end = chosen.end or now
    start = chosen.start or end - MAX_SPAN
    if end < start:
        end = start
    if end - start > MAX_SPAN:
        return Bounds(end - MAX_SPAN, end, clamped=True)
    return Bounds(start, end, clamped=chosen.start is None)


@dataclass(frozen=True)
class Rank:
    """Where percentile p of n sorted values falls: between ranks lo and hi (0-based)."""

    lo: int
    hi: int
    fraction: float


def rank(n: int, p: float) -> Rank:
    position = p * (n - 1)
    lo = math.floor(position)
    return Rank(lo, math.ceil(position), position - lo)


def interpolate(lo: float, hi: float, fraction: float) -> float:
    return lo + (hi - lo) * fraction


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """percentile_cont(p) of values already in ascending order; None for no values."""
    if not sorted_values:
        return None
    at = rank(len(sorted_values), p)
    return interpolate(sorted_values[at.lo], sorted_values[at.hi], at.fraction)


def from_ranks(values_at: Mapping[int, float], n: int, p: float) -> float | None:
    """percentile_cont(p) of n values, knowing only the values at the ranks it needs."""
    if n <= 0:
        return None
    at = rank(n, p)
    return interpolate(values_at[at.lo], values_at[at.hi], at.fraction)


def percentiles(values: Iterable[float], ps: Sequence[float] = PERCENTILES) -> Percentiles:
    ordered = sorted(values)
    return Percentiles.of([percentile(ordered, p) for p in ps])


def ratio(part: float, whole: float) -> float | None:
    """part / whole; None (shown as unknown) when there is nothing to divide by."""
    return part / whole if whole else None


def mean(total: float | None, count: int) -> float | None:
    return None if total is None or count == 0 else total / count


def plus(a: float | None, b: float | None) -> float | None:
    """A sum where unknown stays unknown, but unknown plus a known amount is that amount."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def total(values: Iterable[float | None]) -> float | None:
    result: float | None = None
    for value in values:
        result = plus(result, value)
    return result


def top(totals: Mapping[K, float | None], limit: int) -> list[K]:
    """The keys with the largest values (unknown last), ties in key order."""
    ranked = sorted(
        totals.items(), key=lambda item: (item[1] is None, -(item[1] or 0.0), str(item[0]))
    )
    return [key for key, _ in ranked[:limit]]


def ratios(parts: Mapping[K, float], wholes: Mapping[K, float]) -> dict[K, float | None]:
    """Per-key part / whole, for every key that has a whole."""
    return {key: ratio(parts.get(key, 0), whole) for key, whole in wholes.items()}


def filled(starts: Sequence[int], found: Mapping[int, float]) -> list[float | None]:
    """Counts per bucket: a bucket where nothing happened is 0, not a gap."""
    return [found.get(start, 0) for start in starts]


def delta(current: float | None, previous: float | None) -> float | None:
    """How much a figure moved from the previous version; None when either is unknown."""
    if current is None or previous is None:
        return None
    return current - previous


@dataclass(frozen=True)
class Totals:
    """Sums over a group of observations. `generations`, `unpriced` and `errors` count model
    calls only; tokens and cost are summed over every observation that has them."""

    observations: int
    generations: int
    unpriced: int  # model calls with no cost: left out of `cost`, never counted as $0
    errors: int
    input_tokens: int
    output_tokens: int
    cost: float | None  # None when no observation in the group had a cost


def add_up(groups: Iterable[Totals]) -> Totals:
    items = list(groups)
    return Totals(
        observations=sum(g.observations for g in items),
        generations=sum(g.generations for g in items),
        unpriced=sum(g.unpriced for g in items),
        errors=sum(g.errors for g in items),
        input_tokens=sum(g.input_tokens for g in items),
        output_tokens=sum(g.output_tokens for g in items),
        cost=total(g.cost for g in items),
    )


def per_bucket(totals: Mapping[tuple[int, K], Totals]) -> dict[int, Totals]:
    """Totals kept per (bucket, key), added up per bucket."""
    grouped: dict[int, list[Totals]] = defaultdict(list)
    for (bucket, _), value in totals.items():
        grouped[bucket].append(value)
    return {bucket: add_up(items) for bucket, items in grouped.items()}


def per_key(totals: Mapping[tuple[int, K], Totals]) -> dict[K, Totals]:
    """Totals kept per (bucket, key), added up per key over all buckets."""
    grouped: dict[K, list[Totals]] = defaultdict(list)
    for (_, key), value in totals.items():
        grouped[key].append(value)
    return {key: add_up(items) for key, items in grouped.items()}


@dataclass(frozen=True)
class ScoreSum:
    name: str
    total: float
    count: int


def score_means(sums: Iterable[ScoreSum]) -> dict[str, tuple[float | None, int]]:
    """Mean and count per score name, from partial sums (per bucket, say)."""
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for item in sums:
        totals[item.name] += item.total
        counts[item.name] += item.count
    return {name: (mean(totals[name], counts[name]), counts[name]) for name in sorted(totals)}
