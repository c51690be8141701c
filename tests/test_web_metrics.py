"""The metrics arithmetic of `web.metrics`, without a database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from web import metrics
from web.metrics import Percentiles
from web.timerange import parse_range

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class TestPercentile:
    def test_interpolates_between_the_nearest_ranks_like_percentile_cont(self) -> None:
        values = [10.0, 20.0, 30.0, 40.0]
        assert metrics.percentile(values, 0.5) == 25.0  # rank 1.5
        assert metrics.percentile(values, 0.95) == pytest.approx(38.5)  # rank 2.85
        assert metrics.percentile(values, 0.0) == 10.0
        assert metrics.percentile(values, 1.0) == 40.0

    def test_one_value_is_every_percentile_and_none_is_unknown(self) -> None:
        assert metrics.percentiles([7.0]) == Percentiles(7.0, 7.0, 7.0)
        assert metrics.percentile([], 0.5) is None
        assert metrics.percentiles([]) == Percentiles(None, None, None)

    def test_percentiles_sort_their_input(self) -> None:
        assert metrics.percentiles([3.0, 1.0, 2.0]).p50 == 2.0

    def test_the_values_at_two_ranks_are_enough(self) -> None:
        """What SQLite fetches (the values at the ranks) gives what sorting everything gives."""
        generator = random.Random(7)
        for n in (1, 2, 3, 10, 99, 1000):
            values = sorted(generator.uniform(0, 5000) for _ in range(n))
            for p in metrics.PERCENTILES:
                at = metrics.rank(n, p)
                needed = {at.lo: values[at.lo], at.hi: values[at.hi]}
                assert metrics.from_ranks(needed, n, p) == metrics.percentile(values, p)

    def test_rank(self) -> None:
        assert metrics.rank(5, 0.5) == metrics.Rank(2, 2, 0.0)
        at = metrics.rank(3, 0.95)
        assert (at.lo, at.hi) == (1, 2) and at.fraction == pytest.approx(0.9)
        assert metrics.from_ranks({}, 0, 0.5) is None

    def test_percentiles_are_built_in_order(self) -> None:
        assert Percentiles.of([1.0, 2.0, 3.0]) == Percentiles(p50=1.0, p95=2.0, p99=3.0)


class TestBounds:
    def test_a_preset_ends_now(self) -> None:
        found = metrics.bounds(parse_range("24h", now=NOW), NOW)
        assert (found.start, found.end, found.clamped) == (NOW - timedelta(hours=24), NOW, False)
        assert found.span == timedelta(hours=24)

    def test_all_time_is_the_last_90_days(self) -> None:
        found = metrics.bounds(parse_range("all", now=NOW), NOW)
        assert (found.start, found.end, found.clamped) == (NOW - timedelta(days=90), NOW, True)

    def test_a_longer_custom_range_keeps_its_end(self) -> None:
        chosen = parse_range("custom", "2025-01-01", "2025-12-31", now=NOW)
        found = metrics.bounds(chosen, NOW)
        assert found.end == datetime(2025, 12, 31, tzinfo=UTC)
        assert found.span == timedelta(days=90) and found.clamped

    def test_an_open_custom_range(self) -> None:
        since = metrics.bounds(parse_range("custom", "2026-11-30T12:00", None, now=NOW), NOW)
        assert (since.start, since.end) == (NOW - timedelta(days=1), NOW)
        until = metrics.bounds(parse_range("custom", None, "2026-11-30", now=NOW), NOW)
        assert until.span == timedelta(days=90) and until.clamped

    def test_a_start_in_the_future_is_an_empty_window(self) -> None:
        found = metrics.bounds(parse_range("custom", "2027-01-01", None, now=NOW), NOW)
        assert found.start == found.end


class TestSumsAndRates:
    def test_ratio_of_nothing_is_unknown(self) -> None:
        assert metrics.ratio(1, 4) == 0.25
        assert metrics.ratio(0, 0) is None

    def test_mean(self) -> None:
        assert metrics.mean(3.0, 4) == 0.75
        assert metrics.mean(0.0, 0) is None
        assert metrics.mean(None, 3) is None

    def test_unknown_amounts_are_never_zero(self) -> None:
        assert metrics.plus(None, None) is None
        assert metrics.plus(None, 0.5) == 0.5
        assert metrics.plus(0.25, 0.5) == 0.75
        assert metrics.total([None, None]) is None
        assert metrics.total([None, 0.0]) == 0.0
        assert metrics.total([]) is None

    def test_ratios_per_bucket(self) -> None:
        assert metrics.ratios({60: 1}, {0: 4, 60: 2}) == {0: 0.0, 60: 0.5}

    def test_delta(self) -> None:
        assert metrics.delta(0.25, 1.0) == -0.75
        assert metrics.delta(None, 1.0) is None
        assert metrics.delta(1.0, None) is None


class TestSeries:
    def test_counts_fill_quiet_buckets_with_zero(self) -> None:
        assert metrics.filled([0, 60, 120], {60: 3}) == [0, 3, 0]

    def test_top_keys_by_value_with_unknown_last(self) -> None:
        totals: dict[str, float | None] = {"a": 1.0, "b": None, "c": 3.0, "d": 1.0}
        assert metrics.top(totals, 3) == ["c", "a", "d"]
        assert metrics.top(totals, 10)[-1] == "b"
        assert metrics.top({}, 3) == []


class TestTotals:
    def test_adding_up_keeps_unknown_cost_unknown(self) -> None:
        priced = metrics.Totals(3, 2, 0, 1, 100, 10, 0.5)
        unpriced = metrics.Totals(1, 1, 1, 0, 5, 1, None)
        both = metrics.add_up([priced, unpriced])
        assert both == metrics.Totals(4, 3, 1, 1, 105, 11, 0.5)
        assert metrics.add_up([unpriced, unpriced]).cost is None
        assert metrics.add_up([]) == metrics.Totals(0, 0, 0, 0, 0, 0, None)

    def test_per_bucket_and_per_key_add_up_to_the_same_total(self) -> None:
        cells = {
            (0, "a"): metrics.Totals(1, 1, 0, 0, 10, 1, 0.25),
            (0, "b"): metrics.Totals(2, 2, 2, 1, 20, 2, None),
            (60, "a"): metrics.Totals(4, 4, 0, 0, 40, 4, 1.0),
        }
        buckets = metrics.per_bucket(cells)
        keys = metrics.per_key(cells)
        assert buckets[0] == metrics.Totals(3, 3, 2, 1, 30, 3, 0.25)
        assert keys["b"].cost is None and keys["a"].cost == 1.25
        everything = metrics.add_up(cells.values())
        assert metrics.add_up(buckets.values()) == everything == metrics.add_up(keys.values())

    def test_score_means_from_partial_sums(self) -> None:
        sums = [
            metrics.ScoreSum("quality", 1.5, 2),
            metrics.ScoreSum("quality", 0.0, 1),
            metrics.ScoreSum("helpful", 1.0, 1),
        ]
        assert metrics.score_means(sums) == {"helpful": (1.0, 1), "quality": (0.5, 3)}
