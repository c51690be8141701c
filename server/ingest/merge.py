"""Field-level merge of records into stored rows, the Langfuse upsert rules.

* A field the event did not set never overwrites (and an empty usage/cost map counts as unset).
* `metadata` is deep-merged; `tags` are unioned and sorted.
* Immutable after the first write that set them: a trace's timestamp and environment; an
  observation's trace, start time and environment; a score's timestamp and trace.
* Events may arrive in any order. A row remembers the time of the newest event merged into it;
  an older event arriving later only fills fields that are still empty.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.ingest.environment import DEFAULT_ENVIRONMENT
from server.ingest.records import Kind, Record
from server.ingest.usage import token_totals, total_cost

Row = dict[str, Any]
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

IMMUTABLE: dict[Kind, frozenset[str]] = {
    Kind.TRACE: frozenset({"timestamp", "environment"}),
    Kind.OBSERVATION: frozenset({"trace_id", "start_time", "environment"}),
    Kind.SCORE: frozenset({"timestamp", "trace_id"}),
}
# The flag that says "the immutable fields are still defaults, the first real event sets them".
PROVISIONAL_FLAG = {Kind.TRACE: "implicit", Kind.OBSERVATION: "provisional"}


def deep_merge(base: Any, update: Any) -> Any:
    if isinstance(base, dict) and isinstance(update, dict):
        merged = dict(base)
        for key, value in update.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return update


def new_row(record: Record, now: datetime) -> Row:
    """A row with every column at its default, before any record is applied."""
    base: Row = {
        "project_id": record.project_id,
        "id": record.id,
        "created_at": now,
        "updated_at": now,
    }
    if record.kind is Kind.TRACE:
        base.update(
            timestamp=record.event_time,
            name=None,
            user_id=None,
            session_id=None,
            release=None,
            version=None,
            environment=DEFAULT_ENVIRONMENT,
            external_id=None,
            public=False,
            bookmarked=False,
            tags=[],
            metadata=None,
            input=None,
            output=None,
            implicit=True,
            last_event_at=record.event_time,
        )
    elif record.kind is Kind.OBSERVATION:
        base.update(
            trace_id=record.id,
            parent_observation_id=None,
            type="SPAN",
            name=None,
            start_time=record.event_time,
            end_time=None,
            completion_start_time=None,
            model=None,
            model_parameters=None,
            input=None,
            output=None,
            metadata=None,
            level="DEFAULT",
            status_message=None,
            version=None,
            environment=DEFAULT_ENVIRONMENT,
            usage_details=None,
            usage_unit=None,
            cost_details=None,
            total_cost=None,
            input_tokens=None,
            output_tokens=None,
            total_tokens=None,
            duration_ms=None,
            cost_source=None,
            unpriced_reason=None,
            model_price_id=None,
            pricing_tier=None,
            usage_estimated=False,
            prompt_name=None,
            prompt_version=None,
            provisional=True,
            last_event_at=record.event_time,
        )
    else:
        base.update(
            trace_id=None,
            observation_id=None,
            session_id=None,
            dataset_run_id=None,
            comment=None,
            metadata=None,
            config_id=None,
            queue_id=None,
            author_user_id=None,
        )
    return base


def apply(row: Row, record: Record, *, is_new: bool, now: datetime) -> None:
    """Merge one record into a row (in place)."""
    kind = record.kind
    flag = PROVISIONAL_FLAG.get(kind)
    provisional = bool(row.get(flag)) if flag else is_new
    newer = not record.fill_only and (
        kind is Kind.SCORE or record.event_time >= row["last_event_at"]
    )
    immutable = IMMUTABLE[kind]
    for column, value in record.fields.items():
        if column in immutable:
            if is_new or (provisional and not record.fill_only):
                row[column] = value
            continue
        if column == "type" and not (record.is_create or is_new):
            continue
        current = row.get(column)
        if column == "tags":
            row[column] = sorted(set(current or []) | set(value))
        elif column == "metadata":
            if current is None:
                row[column] = value
            else:
                row[column] = deep_merge(current, value) if newer else deep_merge(value, current)
        elif newer or current is None:
            row[column] = value
    _after_merge(row, record, now)


def _after_merge(row: Row, record: Record, now: datetime) -> None:
    kind = record.kind
    row["updated_at"] = now
    if kind is Kind.SCORE:
        return
    if record.fill_only:
        # Content filled in from elsewhere says nothing about how recent the row is: the span's
        # own events must still win over it.
        if row["provisional"] if kind is Kind.OBSERVATION else row["implicit"]:
            row["last_event_at"] = EARLIEST
    else:
        row["last_event_at"] = max(row["last_event_at"], record.event_time)
    if kind is Kind.TRACE:
        # A trace event makes the trace real, whatever it set; trace fields that a non-root
        # OTLP span carries (user, session, tags) do not.
        if record.is_create:
            row["implicit"] = False
        return
    if record.is_create:
        row["provisional"] = False
    if row["end_time"] is not None and row["end_time"] < row["start_time"]:
        row["end_time"] = row["start_time"]
    row["total_cost"] = total_cost(row["cost_details"])
    row["input_tokens"], row["output_tokens"], row["total_tokens"] = token_totals(
        row["usage_details"]
    )
    end = row["end_time"]
    row["duration_ms"] = None if end is None else (end - row["start_time"]).total_seconds() * 1000.0
