from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import UtcDateTime


class Media(Base):
    """A file referenced from input, output or metadata (`@@@langfuseMedia:…@@@`).

    The bytes live in the database, not on a local disk, so every server replica can serve them.
    """

    __tablename__ = "media"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # base64url of the content's SHA-256, first 22 characters: the Langfuse SDKs compute it too.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(255))
    content_length: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    trace_id: Mapped[str | None] = mapped_column(String(800))
    observation_id: Mapped[str | None] = mapped_column(String(800))
    field: Mapped[str | None] = mapped_column(String(32))
    # Random secrets carried in the upload and download URLs, which clients call without a key.
    upload_token: Mapped[str] = mapped_column(String(64))
    download_token: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    upload_http_status: Mapped[int | None] = mapped_column(Integer)
    upload_http_error: Mapped[str | None] = mapped_column(Text)
    upload_time_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
