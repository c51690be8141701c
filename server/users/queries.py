"""Dashboard users and project memberships, shared by the CLI, first start and the settings pages."""

from __future__ import annotations

import enum
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db.models import Membership, Project, ServerSetting, User
from server.projects.keys import check_secret, hash_secret

MIN_PASSWORD = 8


class Role(enum.StrEnum):
    OWNER = "owner"
    MEMBER = "member"
    VIEWER = "viewer"

    def at_least(self, other: Role) -> bool:
        order = [Role.VIEWER, Role.MEMBER, Role.OWNER]
        return order.index(self) >= order.index(other)


class UserError(ValueError):
    """A request about users that cannot be met; the message is for the person who asked."""


@dataclass(frozen=True)
class MemberRow:
    user_id: str
    email: str
    name: str | None
    role: Role
    last_login_at: datetime | None


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 320 or any(c.isspace() for c in email):
        raise UserError(f"{email[:80]!r} is not an email address")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")


def new_password() -> str:
    return secrets.token_urlsafe(12)


def get_user(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(session: Session, email: str) -> User | None:
    try:
        email = normalise_email(email)
    except UserError:
        return None
    return session.scalar(select(User).where(User.email == email))


def list_users(session: Session, *, oldest_first: bool = False) -> list[User]:
    order = (User.created_at, User.email) if oldest_first else (User.email,)
    return list(session.scalars(select(User).order_by(*order)))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def create_user(session: Session, email: str, password: str, name: str | None = None) -> User:
    email = normalise_email(email)
    check_password(password)
    if get_user_by_email(session, email) is not None:
        raise UserError(f"a user with the email {email!r} already exists")
    user = User(
        id=str(uuid.uuid4()),
        email=email,
        name=(name or "").strip() or None,
        password_hash=hash_secret(password),
        created_at=datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    check_password(password)
    user.password_hash = hash_secret(password)
    session.flush()


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = get_user_by_email(session, email)
    if user is None:
        # Same cost as a wrong password, so response time does not tell which emails exist.
        check_secret(_DUMMY_HASH, password)
        return None
    if not check_secret(user.password_hash, password):
        return None
    user.last_login_at = datetime.now(UTC)
    session.flush()
    return user


_DUMMY_HASH = hash_secret("not a password anyone has")


def role_in(session: Session, user_id: str, project_id: str) -> Role | None:
    role = session.scalar(
        select(Membership.role).where(
            Membership.user_id == user_id, Membership.project_id == project_id
        )
    )
    return Role(role) if role else None


def projects_of(session: Session, user_id: str) -> list[tuple[Project, Role]]:
    rows = session.execute(
        select(Project, Membership.role)
        .join(Membership, Membership.project_id == Project.id)
        .where(Membership.user_id == user_id)
        .order_by(Project.name)
    )
    return [(project, Role(role)) for project, role in rows]


def add_member(session: Session, project: Project, user: User, role: Role) -> None:
    existing = session.get(Membership, (project.id, user.id))
    if existing is not None:
        existing.role = role.value
    else:
        session.add(
            Membership(
                project_id=project.id,
                user_id=user.id,
                role=role.value,
                created_at=datetime.now(UTC),
            )
        )
    session.flush()


def remove_member(session: Session, project_id: str, user_id: str) -> None:
    owners = list_members(session, project_id)
    remaining_owners = [m for m in owners if m.role is Role.OWNER and m.user_id != user_id]
    if not remaining_owners:
        raise UserError("a project needs at least one owner")
    session.execute(
        delete(Membership).where(Membership.project_id == project_id, Membership.user_id == user_id)
    )
    session.flush()


def change_role(session: Session, project_id: str, user_id: str, role: Role) -> None:
    membership = session.get(Membership, (project_id, user_id))
    if membership is None:
        raise UserError("that person is not a member of this project")
    if role is not Role.OWNER:
        others = [
            m
            for m in list_members(session, project_id)
            if m.role is Role.OWNER and m.user_id != user_id
        ]
        if not others:
            raise UserError("a project needs at least one owner")
    membership.role = role.value
    session.flush()


def list_members(session: Session, project_id: str) -> list[MemberRow]:
    rows = session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project_id)
        .order_by(User.email)
    )
    return [
        MemberRow(user.id, user.email, user.name, Role(role), user.last_login_at)
        for user, role in rows
    ]


def server_secret(session: Session, name: str) -> str:
    """A random value stored once and shared by every replica (e.g. the cookie-signing key)."""
    value = session.scalar(select(ServerSetting.value).where(ServerSetting.name == name))
    if value is not None:
        return value
    try:
        with session.begin_nested():
            session.add(ServerSetting(name=name, value=secrets.token_urlsafe(48)))
    except IntegrityError:
        pass  # another replica stored it first; use theirs
    stored = session.scalar(select(ServerSetting.value).where(ServerSetting.name == name))
    assert stored is not None
    return stored
