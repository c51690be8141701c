"""Waterfall geometry: where each observation's bar sits on the trace's time axis.

Positions are percentages of the span from the earliest start to the latest end among the
trace's observations. A bar never gets narrower than `MIN_WIDTH_PCT`, so instant events stay
visible, and never runs past the right edge. An observation without an end time is drawn to
the end of the span and flagged open. Time to first token (completion start) is a marker on
the same axis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

MIN_WIDTH_PCT = 0.5


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime

    @property
    def ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000.0


@dataclass(frozen=True, slots=True)
class Bar:
    offset_pct: float
    width_pct: float
    # No end time: the bar runs to the end of the span.
    open_ended: bool = False
    # Completion start on the same axis, when it falls inside the bar.
    ttft_pct: float | None = None

    @property
    def style(self) -> str:
        return f"left:{self.offset_pct:.3f}%;width:{self.width_pct:.3f}%"

    @property
    def ttft_style(self) -> str:
        return "" if self.ttft_pct is None else f"left:{self.ttft_pct:.3f}%"


@dataclass(frozen=True, slots=True)
class Tick:
    pct: float
    ms: float

    @property
    def label(self) -> str:
        return axis_label(self.ms)


def axis_label(ms: float) -> str:
    """A short duration for the time axis, where labels sit side by side: 250ms, 1.55s, 3m45s."""
    if ms <= 0:
        return "0"
    if ms < 1:
        return f"{ms:.2f}ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f}".rstrip("0").rstrip(".") + "s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"


def trace_span(intervals: Iterable[tuple[datetime, datetime | None]]) -> Span | None:
    """From the earliest start to the latest end (or start, when there is no end)."""
    first: datetime | None = None
    last: datetime | None = None
    for start, end in intervals:
        stop = end if end is not None and end > start else start
        first = start if first is None or start < first else first
        last = stop if last is None or stop > last else last
    if first is None or last is None:
        return None
    return Span(first, last)


def _pct(span: Span, moment: datetime) -> float:
    total = span.ms
    if total <= 0:
        return 0.0
    value = (moment - span.start).total_seconds() * 1000.0 / total * 100.0
    return min(100.0, max(0.0, value))


def bar(
    span: Span, start: datetime, end: datetime | None, completion_start: datetime | None = None
) -> Bar:
    offset = _pct(span, start)
    open_ended = end is None
    right = 100.0 if end is None else _pct(span, max(end, start))
    width = max(MIN_WIDTH_PCT, right - offset)
    if offset + width > 100.0:
        offset = max(0.0, 100.0 - width)
    ttft: float | None = None
    inside = completion_start is not None and start <= completion_start <= (end or span.end)
    if completion_start is not None and inside and span.ms > 0:
        ttft = _pct(span, completion_start)
    return Bar(round(offset, 4), round(width, 4), open_ended, ttft)


def ticks(span: Span, count: int = 4) -> list[Tick]:
    """Evenly spaced axis labels, 0 % to 100 %."""
    if span.ms <= 0:
        return [Tick(0.0, 0.0)]
    return [Tick(100.0 * i / count, span.ms * i / count) for i in range(count + 1)]
