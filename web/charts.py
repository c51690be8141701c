"""Time-series charts: Python builds the data, `static/js/charts.js` draws it with uPlot.

A chart is a list of bucket start times and one list of values per series (None where a
bucket has no data, drawn as a gap rather than as zero). `link` turns a click on a bucket into
a page of the traces behind it: `{from}` and `{to}` are replaced by the bucket's ISO bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Unit = Literal["count", "ms", "usd", "tokens", "ratio", "score"]


@dataclass
class Series:
    label: str
    values: list[float | None]


@dataclass
class TimeChart:
    id: str
    title: str
    unit: Unit
    bucket_seconds: int
    x: list[int]  # bucket starts, Unix seconds (UTC)
    series: list[Series] = field(default_factory=list)
    link: str | None = None
    stacked: bool = False

    @property
    def empty(self) -> bool:
        return not any(v is not None for s in self.series for v in s.values)

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "unit": self.unit,
            "bucket": self.bucket_seconds,
            "x": self.x,
            "series": [{"label": s.label, "values": s.values} for s in self.series],
            "link": self.link,
        }


BUCKETS = [
    60,
    5 * 60,
    15 * 60,
    3600,
    3 * 3600,
    6 * 3600,
    86400,
]


def bucket_size(span: timedelta, max_points: int = 120) -> int:
    """The smallest bucket that keeps a chart under `max_points` points."""
    seconds = max(span.total_seconds(), 60)
    for size in BUCKETS:
        if seconds / size <= max_points:
            return size
    return BUCKETS[-1]


def bucket_starts(start: datetime, end: datetime, bucket: int) -> list[int]:
    first = int(start.astimezone(UTC).timestamp()) // bucket * bucket
    last = int(end.astimezone(UTC).timestamp())
    return list(range(first, last + 1, bucket))


def bucket_of(moment: datetime, bucket: int) -> int:
    return int(moment.astimezone(UTC).timestamp()) // bucket * bucket


def align(starts: list[int], found: dict[int, float | None]) -> list[float | None]:
    """Values per bucket start, None where nothing was found."""
    return [found.get(x) for x in starts]
