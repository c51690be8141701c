from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import PortableJSON, UtcDateTime


class Trace(Base):
    __tablename__ = "traces"

    # Ids are chosen by clients, so they are only unique within a project.
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(800), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    name: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(Text)
    release: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean)
    bookmarked: Mapped[bool] = mapped_column(Boolean)
    tags: Mapped[list[str]] = mapped_column(PortableJSON)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", PortableJSON)
    # Input and output are stored as JSON text, not JSONB: they are large, never queried by
    # path, and Postgres spends most of a row's write cost parsing JSONB.
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    # True while the row only exists because an observation or score pointed at it: its
    # timestamp and environment are then defaults that the first trace event may still set.
    implicit: Mapped[bool] = mapped_column(Boolean)
    # Envelope timestamp of the newest event merged in; older events only fill empty fields.
    last_event_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_traces_project_timestamp", "project_id", "timestamp"),
        Index("ix_traces_project_session", "project_id", "session_id", "timestamp"),
        Index("ix_traces_project_user", "project_id", "user_id", "timestamp"),
    )
