from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import PortableJSON, UtcDateTime


class PromptVersion(Base):
    """One immutable version of a named prompt (text or chat). Tags are kept equal on all versions."""

    __tablename__ = "prompt_versions"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(8))
    prompt: Mapped[Any] = mapped_column(PortableJSON)
    config: Mapped[Any] = mapped_column(PortableJSON)
    tags: Mapped[list[str]] = mapped_column(PortableJSON)
    commit_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PromptLabel(Base):
    """A label points at exactly one version of a prompt; moving it is one UPDATE."""

    __tablename__ = "prompt_labels"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    label: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
