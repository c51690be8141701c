"""HTTP Basic `public:secret` → the project a request acts for.

A Bearer header holding only a public key gives access to score creation and nothing else,
as in Langfuse.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from server.db.models import ApiKey
from server.deps import StateDep
from server.errors import Forbidden, Unauthorized
from server.projects.queries import get_key_by_public_key

NO_HEADER = "No authorization header"
BAD_HEADER = "Invalid authorization header"
BAD_CREDENTIALS = "Invalid credentials. Confirm that you've configured the correct host."
INSUFFICIENT = "Access denied - insufficient permissions for this endpoint"


@dataclass(frozen=True, slots=True)
class Principal:
    project_id: str
    key_id: str
    # False when only a public key was presented (Bearer): scores only.
    full_access: bool


def _parse(header: str | None) -> tuple[str, str | None]:
    if not header:
        raise Unauthorized(NO_HEADER)
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value.strip():
        return value.strip(), None
    if scheme != "basic":
        raise Unauthorized(BAD_HEADER)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized(BAD_HEADER) from None
    public_key, sep, secret_key = decoded.partition(":")
    if not sep or not public_key or not secret_key:
        raise Unauthorized(BAD_HEADER)
    return public_key, secret_key


def authenticate(request: Request, state: StateDep) -> Principal:
    public_key, secret_key = _parse(request.headers.get("authorization"))
    # A session of its own, closed before the route runs: ingestion routes then wait for the
    # writer without holding a pooled connection (holding one let waiting requests exhaust
    # the pool the writer needs).
    with state.sessions() as session:
        key: ApiKey | None = get_key_by_public_key(session, public_key)
    if key is None or key.revoked_at is not None:
        raise Unauthorized(BAD_CREDENTIALS)
    if secret_key is None:
        return Principal(key.project_id, key.id, full_access=False)
    if not state.verifier.verify(key.id, key.secret_hash, secret_key):
        raise Unauthorized(BAD_CREDENTIALS)
    return Principal(key.project_id, key.id, full_access=True)


def require_project(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if not principal.full_access:
        raise Forbidden(INSUFFICIENT)
    return principal


def _as_unauthorized_error(exc: Unauthorized) -> Unauthorized:
    return Unauthorized(exc.message, error="UnauthorizedError")


def require_project_for_ingestion(request: Request, state: StateDep) -> Principal:
    """Ingestion answers auth failures with `{"error": "UnauthorizedError", "message": …}`."""
    try:
        return authenticate(request, state)
    except Unauthorized as exc:
        raise _as_unauthorized_error(exc) from None


def require_project_for_prompts(
    principal: Annotated[Principal, Depends(require_project_for_ingestion)],
) -> Principal:
    """Prompt routes: the ingestion error shape, and a full key pair."""
    return require_project(principal)


ProjectDep = Annotated[Principal, Depends(require_project)]
PromptKeyDep = Annotated[Principal, Depends(require_project_for_prompts)]
AnyKeyDep = Annotated[Principal, Depends(authenticate)]
IngestionKeyDep = Annotated[Principal, Depends(require_project_for_ingestion)]
