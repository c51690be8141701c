from __future__ import annotations

import base64
import binascii
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Media
from server.media.schemas import MediaUploadRequest


def media_id(sha256_b64: str) -> str:
    """The id the Langfuse SDKs derive themselves: base64url of the SHA-256, 22 characters."""
    return sha256_b64.replace("+", "-").replace("/", "_")[:22]


def sha256_bytes(sha256_b64: str) -> bytes | None:
    try:
        digest = base64.b64decode(sha256_b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == 32 else None


def get(session: Session, project_id: str, mid: str) -> Media | None:
    return session.get(Media, (project_id, mid))


def register(session: Session, project_id: str, request: MediaUploadRequest) -> Media:
    """The row for an upload; an existing one (same content, same project) is reused."""
    mid = media_id(request.sha256Hash)
    media = get(session, project_id, mid)
    if media is None:
        media = Media(
            project_id=project_id,
            id=mid,
            sha256=request.sha256Hash,
            content_type=request.contentType,
            content_length=request.contentLength,
            trace_id=request.traceId,
            observation_id=request.observationId,
            field=request.field,
            upload_token=secrets.token_urlsafe(32),
            download_token=secrets.token_urlsafe(32),
            created_at=datetime.now(UTC),
        )
        session.add(media)
        session.flush()
    return media


def by_token(
    session: Session,
    mid: str,
    *,
    upload_token: str | None = None,
    download_token: str | None = None,
) -> Media | None:
    query = select(Media).where(Media.id == mid)
    if upload_token is not None:
        query = query.where(Media.upload_token == upload_token)
    elif download_token is not None:
        query = query.where(Media.download_token == download_token)
    else:
        return None
    return session.scalars(query).first()
