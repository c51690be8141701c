"""Hourly totals behind the metrics page (see `server.metrics.rollups`).

Rows are rebuilt a whole project-hour at a time from the raw tables, never updated in place,
so they carry no primary key beyond the (project_id, hour) index they are read and deleted by.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, metadata
from server.db.types import UtcDateTime


class MetricDirtyHour(Base):
    """A project-hour whose rollups no longer match the raw rows; written by the ingest writer
    in the same transaction as the rows. `token` changes with every mark, so a refresh that
    read the raw rows before a later write does not clear the later mark."""

    __tablename__ = "metric_dirty_hours"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


# Observations per hour, environment and one dimension: `model` and `name` (every
# observation, key NULL when it has none), `prompt` (observations linked to a prompt
# version) and `usage` (key: a usage type; `cost` is that type's share of the observations
# that had a cost, `observations` how many had one; no tokens, errors or durations). Durations are a histogram of log bins, JSON text [bin, count, bin, count, …].
metric_hours = Table(
    "metric_hours",
    metadata,
    Column("project_id", String(64), nullable=False),
    Column("hour", UtcDateTime, nullable=False),
    Column("environment", String(40), nullable=False),
    Column("dimension", String(8), nullable=False),
    Column("key", Text),
    Column("version", Integer),
    Column("observations", Integer, nullable=False),
    Column("model_calls", Integer, nullable=False),
    Column("errors", Integer, nullable=False),  # every observation at level ERROR
    Column("model_call_errors", Integer, nullable=False),
    Column("unpriced", Integer, nullable=False),  # model calls with no cost
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cost", Float),  # NULL when nothing in the group had a cost
    Column("durations", Text),
    Index("ix_metric_hours_project_hour", "project_id", "hour"),
)

# Traces per hour (of their timestamp) and environment, with a latency histogram of the
# traces that have observations.
trace_hours = Table(
    "trace_hours",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("hour", UtcDateTime, primary_key=True),
    Column("environment", String(40), primary_key=True),
    Column("traces", Integer, nullable=False),
    Column("error_traces", Integer, nullable=False),
    Column("latencies", Text),
)

# Sums and counts of the numeric and boolean scores of the traces that used each prompt
# version. A trace counts once per version, in the hour of its first observation linked to
# that version (and that observation's environment).
prompt_score_hours = Table(
    "prompt_score_hours",
    metadata,
    Column("project_id", String(64), nullable=False),
    Column("hour", UtcDateTime, nullable=False),
    Column("environment", String(40), nullable=False),
    Column("prompt_name", Text, nullable=False),
    Column("prompt_version", Integer),
    Column("score_name", Text, nullable=False),
    Column("total", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Index("ix_prompt_score_hours_project_hour", "project_id", "hour"),
)

# Traces per hour, environment and user (traces with a user id), for the top-users table.
user_hours = Table(
    "user_hours",
    metadata,
    Column("project_id", String(64), nullable=False),
    Column("hour", UtcDateTime, nullable=False),
    Column("environment", String(40), nullable=False),
    Column("user_id", Text, nullable=False),
    Column("traces", Integer, nullable=False),
    Column("error_traces", Integer, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("cost", Float),
    Index("ix_user_hours_project_hour", "project_id", "hour"),
)
