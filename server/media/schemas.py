from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

ContentType = Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=255)]


class MediaUploadRequest(BaseModel):
    traceId: str | None = None
    observationId: str | None = None
    datasetId: str | None = None
    datasetItemId: str | None = None
    contentType: ContentType
    contentLength: int = Field(ge=0)
    sha256Hash: Annotated[str, StringConstraints(min_length=40, max_length=64)]
    field: str | None = None


class MediaUploadAnswer(BaseModel):
    mediaId: str
    uploadUrl: str | None = Field(
        description="PUT the bytes here (no key needed); null: already uploaded."
    )


class MediaUploadReport(BaseModel):
    uploadedAt: datetime
    uploadHttpStatus: int
    uploadHttpError: str | None = None
    uploadTimeMs: int | None = None


class MediaRead(BaseModel):
    mediaId: str
    contentType: str
    contentLength: int
    uploadedAt: datetime | None
    url: str
    urlExpiry: str
