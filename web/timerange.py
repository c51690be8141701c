"""The time window a page shows: a preset (last hour … 90 days) or a custom from/to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PRESETS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
PRESET_LABELS = {
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "all": "All time",
    "custom": "Custom",
}


@dataclass(frozen=True)
class TimeRange:
    key: str  # a PRESETS key, "all" or "custom"
    start: datetime | None  # None: unbounded
    end: datetime | None

    @property
    def label(self) -> str:
        return PRESET_LABELS[self.key]


def parse_moment(value: str | None) -> datetime | None:
    """An ISO date or date-time (from an <input type=datetime-local>, taken as UTC)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_range(
    key: str | None,
    start: str | None = None,
    end: str | None = None,
    *,
    default: str = "all",
    now: datetime | None = None,
) -> TimeRange:
    """Unknown or malformed input falls back to `default` rather than failing the page."""
    now = now or datetime.now(UTC)
    key = key or default
    if key == "custom":
        start_at, end_at = parse_moment(start), parse_moment(end)
        if start_at is not None or end_at is not None:
            if start_at and end_at and end_at < start_at:
                start_at, end_at = end_at, start_at
            return TimeRange("custom", start_at, end_at)
        key = default
    if key in PRESETS:
        return TimeRange(key, now - PRESETS[key], None)
    if key != "all" and default != key:
        return parse_range(default, now=now, default="all")
    return TimeRange("all", None, None)
