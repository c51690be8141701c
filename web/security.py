"""Dashboard sign-in and CSRF protection.

* The session is a cookie signed with a key stored in the database (shared by replicas). It
  holds the user id and a fingerprint of their password hash, so changing a password signs
  that user out everywhere.
* CSRF: every browser gets a random token in a SameSite=Strict cookie; forms send it in a
  hidden field and HTMX requests in the X-CSRF-Token header (set once on <body>). An unsafe
  request whose token does not match the cookie is refused (double-submit cookie).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from server.db.models import Project, User
from server.deps import SessionDep
from server.users import queries as users
from server.users.queries import Role

SESSION_COOKIE = "spyglass_session"
CSRF_COOKIE = "spyglass_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid session: the handler sends the browser to the sign-in page."""


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfFailed(Exception):
    pass


@dataclass
class WebState:
    signer: URLSafeTimedSerializer
    session_seconds: int
    secure_cookies: bool


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.dashboard
    return state


WebStateDep = Annotated[WebState, Depends(web_state)]


def make_web_state(session: Session, *, session_days: int, secure_cookies: bool) -> WebState:
    secret = users.server_secret(session, "session_signing_key")
    return WebState(
        signer=URLSafeTimedSerializer(secret, salt="spyglass.session"),
        session_seconds=session_days * 86400,
        secure_cookies=secure_cookies,
    )


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def session_cookie_value(web: WebState, user: User) -> str:
    return web.signer.dumps({"u": user.id, "p": _fingerprint(user)})


def user_from_cookie(request: Request, session: Session, web: WebState) -> User | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = web.signer.loads(raw, max_age=web.session_seconds)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    user = users.get_user(session, str(data.get("u", "")))
    if user is None or not hmac.compare_digest(str(data.get("p", "")), _fingerprint(user)):
        return None
    return user


def csrf_token(request: Request) -> str:
    """This browser's token; a new one (set as a cookie by the middleware) if it has none."""
    token: str | None = getattr(request.state, "csrf_token", None)
    if token is None:
        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        request.state.csrf_token = token
    return token


async def check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    expected = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfFailed


def current_user(request: Request, session: SessionDep, web: WebStateDep) -> User:
    user = user_from_cookie(request, session, web)
    if user is None:
        raise LoginRequired
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(current_user)]


@dataclass
class ProjectAccess:
    """Who is looking at which project, and what they may do there."""

    user: User
    project: Project
    role: Role
    projects: list[tuple[Project, Role]]

    @property
    def can_edit(self) -> bool:
        return self.role.at_least(Role.MEMBER)

    @property
    def is_owner(self) -> bool:
        return self.role is Role.OWNER

    def require(self, role: Role) -> None:
        if not self.role.at_least(role):
            raise Forbidden(f"this needs the {role.value} role in {self.project.name}")


def project_access(project_id: str, user: CurrentUser, session: SessionDep) -> ProjectAccess:
    mine = users.projects_of(session, user.id)
    for project, role in mine:
        if project.id == project_id:
            return ProjectAccess(user, project, role, mine)
    # Same answer whether the project exists or not.
    raise Forbidden("you are not a member of this project, or it does not exist")


Access = Annotated[ProjectAccess, Depends(project_access)]
