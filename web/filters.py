"""Every display format the templates use, registered in one place (`register`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment

MISSING = "—"


def duration(ms: float | None) -> str:
    if ms is None:
        return MISSING
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{int(minutes)} min {seconds:.0f} s"


def elapsed(ms: float | None) -> str:
    """A wall-clock span that may last days (a session): the two largest units."""
    if ms is None or ms < 60_000:
        return duration(ms)
    seconds = int(ms // 1000)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s"


def interval(seconds: int | None) -> str:
    """A bucket size: "15 min", "1 h", "6 h", "1 day"."""
    if seconds is None:
        return MISSING
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    return f"{seconds} s"


def cost(value: float | None) -> str:
    """Dollars; unknown stays unknown (never shown as $0)."""
    if value is None:
        return MISSING
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.6f}".rstrip("0")
    return f"${value:,.4f}".rstrip("0").rstrip(".")


def number(value: float | int | None) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.1f}%"


def timestamp(value: datetime | None) -> str:
    if value is None:
        return MISSING
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def timestamp_ms(value: datetime | None) -> str:
    if value is None:
        return MISSING
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return MISSING
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def short_id(value: str | None, keep: int = 8) -> str:
    if not value:
        return MISSING
    return value if len(value) <= keep + 1 else value[:keep] + "…"


def pretty_json(value: Any) -> str:
    """Indented JSON text; the template escapes it like any other text."""
    if value is None:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def register(env: Environment) -> None:
    env.filters.update(
        duration=duration,
        interval=interval,
        elapsed=elapsed,
        cost=cost,
        number=number,
        percent=percent,
        timestamp=timestamp,
        timestamp_ms=timestamp_ms,
        iso=iso,
        ago=ago,
        short_id=short_id,
        pretty_json=pretty_json,
    )
