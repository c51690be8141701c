from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import UtcDateTime


class TraceRollup(Base):
    """Totals of a trace's observations, kept current by the writer in the same transaction.

    The traces list filters and sorts on latency, cost and errors; summing a trace's
    observations for every row of every page would not stay fast on large projects.
    """

    __tablename__ = "trace_rollups"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(800), primary_key=True)
    start_time: Mapped[datetime] = mapped_column(UtcDateTime)
    end_time: Mapped[datetime] = mapped_column(UtcDateTime)
    # From the first observation's start to the last one's end.
    latency_ms: Mapped[float] = mapped_column(Float)
    observation_count: Mapped[int] = mapped_column(Integer)
    generation_count: Mapped[int] = mapped_column(Integer)
    error_count: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    total_tokens: Mapped[int | None] = mapped_column(BigInteger)
    # NULL when no observation has a cost: unknown is not $0.
    total_cost: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_trace_rollups_project_latency", "project_id", "latency_ms"),
        Index("ix_trace_rollups_project_cost", "project_id", "total_cost"),
    )
