"""Media the Langfuse SDKs upload: register (key), PUT the bytes (URL token), report, fetch."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from server.deps import SessionDep, StateDep
from server.errors import BadRequest, Forbidden, NotFound
from server.ingest.body import read_body
from server.media import queries
from server.media.schemas import MediaRead, MediaUploadAnswer, MediaUploadReport, MediaUploadRequest
from server.projects.auth import ProjectDep
from server.responses import ApiResponse

router = APIRouter(prefix="/api/public/media", tags=["media"])
NO_TOKEN = "This URL needs the token it was issued with"


def _base(request: Request, state: StateDep) -> str:
    return state.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")


@router.post(
    "",
    status_code=201,
    response_model=MediaUploadAnswer,
    summary="Register a file and get where to upload it",
)
def register_media(
    body: MediaUploadRequest,
    request: Request,
    session: SessionDep,
    state: StateDep,
    principal: ProjectDep,
) -> Any:
    if queries.sha256_bytes(body.sha256Hash) is None:
        raise BadRequest(
            [{"path": ["sha256Hash"], "message": "must be the base64 SHA-256 of the content"}]
        )
    if body.contentLength > state.settings.max_media_bytes:
        raise BadRequest(
            [
                {
                    "path": ["contentLength"],
                    "message": f"larger than {state.settings.max_media_bytes} bytes",
                }
            ]
        )
    media = queries.register(session, principal.project_id, body)
    session.commit()
    upload_url = None
    if media.content is None:
        upload_url = (
            f"{_base(request, state)}/api/public/media/{media.id}/upload?token={media.upload_token}"
        )
    return ApiResponse({"mediaId": media.id, "uploadUrl": upload_url}, status_code=201)


@router.put("/{media_id}/upload", summary="Upload the bytes (the URL carries its own token)")
async def upload_media(media_id: str, token: str, request: Request, state: StateDep) -> Response:
    raw = await read_body(request, state.settings.max_media_bytes)
    with state.sessions() as session:
        media = queries.by_token(session, media_id, upload_token=token)
        if media is None:
            raise Forbidden(NO_TOKEN)
        digest = base64.b64encode(hashlib.sha256(raw).digest()).decode()
        if digest != media.sha256 or len(raw) != media.content_length:
            raise BadRequest(
                [{"message": "the bytes do not match the registered SHA-256 and length"}]
            )
        media.content = raw
        media.uploaded_at = datetime.now(UTC)
        session.commit()
    return Response(status_code=200)


@router.patch("/{media_id}", status_code=204, summary="Record how the upload went")
def report_upload(
    media_id: str, body: MediaUploadReport, session: SessionDep, principal: ProjectDep
) -> Response:
    media = queries.get(session, principal.project_id, media_id)
    if media is None:
        raise NotFound(f"Media {media_id[:64]} not found within authorized project")
    media.upload_http_status = body.uploadHttpStatus
    media.upload_http_error = body.uploadHttpError
    media.upload_time_ms = body.uploadTimeMs
    media.uploaded_at = media.uploaded_at or body.uploadedAt
    session.commit()
    return Response(status_code=204)


@router.get(
    "/{media_id}", response_model=MediaRead, summary="A file's details and a URL to download it"
)
def get_media(
    media_id: str, request: Request, session: SessionDep, state: StateDep, principal: ProjectDep
) -> Any:
    media = queries.get(session, principal.project_id, media_id)
    if media is None or media.content is None:
        raise NotFound(f"Media {media_id[:64]} not found within authorized project")
    url = (
        f"{_base(request, state)}/api/public/media/{media.id}/content?token={media.download_token}"
    )
    return MediaRead(
        mediaId=media.id,
        contentType=media.content_type,
        contentLength=media.content_length,
        uploadedAt=media.uploaded_at,
        url=url,
        urlExpiry="never",
    )


@router.get("/{media_id}/content", summary="Download the bytes (the URL carries its own token)")
def media_content(media_id: str, token: str, session: SessionDep) -> Response:
    media = queries.by_token(session, media_id, download_token=token)
    if media is None or media.content is None:
        raise Forbidden(NO_TOKEN)
    # Served as an attachment with its own type and nosniff: uploaded bytes are untrusted.
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "attachment",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return Response(media.content, media_type=media.content_type, headers=headers)
