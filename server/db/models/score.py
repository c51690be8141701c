from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import PortableJSON, UtcDateTime


class Score(Base):
    """An evaluation of a trace, an observation in it, or a session."""

    __tablename__ = "scores"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(800), primary_key=True)
    trace_id: Mapped[str | None] = mapped_column(String(800))
    observation_id: Mapped[str | None] = mapped_column(String(800))
    session_id: Mapped[str | None] = mapped_column(Text)
    dataset_run_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    # Numeric view of every score (BOOLEAN 1/0, CATEGORICAL/TEXT 0) for aggregation.
    value: Mapped[float] = mapped_column(Float)
    string_value: Mapped[str | None] = mapped_column(Text)
    data_type: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", PortableJSON)
    config_id: Mapped[str | None] = mapped_column(Text)
    queue_id: Mapped[str | None] = mapped_column(Text)
    author_user_id: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str] = mapped_column(String(40))
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_scores_project_trace", "project_id", "trace_id"),
        Index("ix_scores_project_timestamp", "project_id", "timestamp"),
        Index("ix_scores_project_session", "project_id", "session_id"),
    )
