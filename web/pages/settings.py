"""Project settings: API keys and members."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from server.db.models import ApiKey
from server.deps import SessionDep
from server.projects import queries as projects
from server.users import queries as users
from server.users.queries import MemberRow, Role
from web.security import Access, ProjectAccess
from web.templating import render

router = APIRouter(prefix="/project/{project_id}/settings")


@dataclass
class NewKey:
    public_key: str
    secret_key: str


@dataclass
class KeysPage:
    access: ProjectAccess
    keys: list[ApiKey]
    base_url: str
    new_key: NewKey | None = None
    error: str | None = None
    section: str = "keys"


@dataclass
class MembersPage:
    access: ProjectAccess
    members: list[MemberRow]
    roles: list[str] = field(default_factory=lambda: [r.value for r in Role])
    message: str | None = None
    error: str | None = None
    new_password: str | None = None
    section: str = "members"


def _keys_page(
    request: Request, access: ProjectAccess, session: SessionDep, **extra: object
) -> KeysPage:
    keys = projects.list_keys(session, access.project)
    base_url = str(request.base_url).rstrip("/")
    return KeysPage(access=access, keys=keys, base_url=base_url, **extra)  # type: ignore[arg-type]


@router.get("/keys")
def keys_page(request: Request, access: Access, session: SessionDep) -> Response:
    return render(
        request, "settings_keys.html", _keys_page(request, access, session), fragment="keys"
    )


@router.post("/keys")
def create_key(
    request: Request, access: Access, session: SessionDep, note: Annotated[str, Form()] = ""
) -> Response:
    access.require(Role.MEMBER)
    key, secret = projects.create_key(
        session, access.project, note=note.strip()[:255] or f"created by {access.user.email}"
    )
    session.commit()
    page = _keys_page(request, access, session, new_key=NewKey(key.public_key, secret))
    return render(request, "settings_keys.html", page, fragment="keys")


@router.post("/keys/{public_key}/revoke")
def revoke_key(request: Request, access: Access, session: SessionDep, public_key: str) -> Response:
    access.require(Role.MEMBER)
    key = projects.get_key_by_public_key(session, public_key)
    if key is None or key.project_id != access.project.id:
        page = _keys_page(request, access, session, error="No such key in this project.")
        return render(request, "settings_keys.html", page, fragment="keys", status_code=404)
    projects.revoke_key(session, public_key)
    session.commit()
    return render(
        request, "settings_keys.html", _keys_page(request, access, session), fragment="keys"
    )


def _members_page(
    access: ProjectAccess,
    session: SessionDep,
    *,
    message: str | None = None,
    error: str | None = None,
    new_password: str | None = None,
) -> MembersPage:
    members = users.list_members(session, access.project.id)
    return MembersPage(
        access=access, members=members, message=message, error=error, new_password=new_password
    )


@router.get("/members")
def members_page(request: Request, access: Access, session: SessionDep) -> Response:
    return render(
        request, "settings_members.html", _members_page(access, session), fragment="members"
    )


@router.post("/members")
def add_member(
    request: Request,
    access: Access,
    session: SessionDep,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "member",
) -> Response:
    """Invite: add an existing user, or create the account with a one-time password."""
    access.require(Role.OWNER)
    try:
        chosen = Role(role)
        user = users.get_user_by_email(session, email)
        password = None
        if user is None:
            password = users.new_password()
            user = users.create_user(session, email, password)
        users.add_member(session, access.project, user, chosen)
    except (ValueError, users.UserError) as exc:
        session.rollback()
        page = _members_page(access, session, error=str(exc))
        return render(request, "settings_members.html", page, fragment="members", status_code=400)
    session.commit()
    message = f"{user.email} is now {chosen.value} of {access.project.name}."
    page = _members_page(access, session, message=message, new_password=password)
    return render(request, "settings_members.html", page, fragment="members")


@router.post("/members/{user_id}/role")
def set_role(
    request: Request,
    access: Access,
    session: SessionDep,
    user_id: str,
    role: Annotated[str, Form()] = "",
) -> Response:
    access.require(Role.OWNER)
    try:
        users.change_role(session, access.project.id, user_id, Role(role))
    except (ValueError, users.UserError) as exc:
        session.rollback()
        page = _members_page(access, session, error=str(exc))
        return render(request, "settings_members.html", page, fragment="members", status_code=400)
    session.commit()
    return render(
        request,
        "settings_members.html",
        _members_page(access, session, message="Role changed."),
        fragment="members",
    )


@router.post("/members/{user_id}/remove")
def remove_member(request: Request, access: Access, session: SessionDep, user_id: str) -> Response:
    access.require(Role.OWNER)
    try:
        users.remove_member(session, access.project.id, user_id)
    except users.UserError as exc:
        session.rollback()
        page = _members_page(access, session, error=str(exc))
        return render(request, "settings_members.html", page, fragment="members", status_code=400)
    session.commit()
    return render(
        request,
        "settings_members.html",
        _members_page(access, session, message="Removed."),
        fragment="members",
    )
