"""What `spyglass serve` does before it listens: migrate, then make sure a project and key exist."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from server.config import Settings
from server.db.migrate import upgrade_to_head
from server.projects import queries
from server.users import queries as users

DEFAULT_PROJECT = "default"


FIRST_USER_EMAIL = "admin@spyglass.local"


@dataclass
class FirstKeys:
    project_name: str
    public_key: str
    secret_key: str


@dataclass
class FirstUser:
    email: str
    password: str


@dataclass
class Created:
    """What first start made that must be shown once (the secrets are not stored)."""

    keys: FirstKeys | None = None
    user: FirstUser | None = None


def prepare_database(engine: Engine, settings: Settings) -> Created:
    """Migrate to head, seed projects and the first dashboard user; returns what to print once."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(engine)
    with Session(engine) as session:
        keys = _init_from_settings(session, settings) or _first_start(session)
        user = _first_user(session, settings)
        session.commit()
    return Created(keys, user)


def _first_user(session: Session, settings: Settings) -> FirstUser | None:
    """With no user at all, create one who owns every project (else nobody could sign in)."""
    if users.count_users(session) > 0:
        return None
    if settings.init_user_email:
        user = users.create_user(session, settings.init_user_email, settings.init_user_password)
        shown = None
    else:
        password = users.new_password()
        user = users.create_user(session, FIRST_USER_EMAIL, password, name="Admin")
        shown = FirstUser(user.email, password)
    for project in queries.list_projects(session):
        users.add_member(session, project, user, users.Role.OWNER)
    return shown


def _init_from_settings(session: Session, settings: Settings) -> FirstKeys | None:
    if not settings.init_project:
        return None
    project = queries.get_project_by_name(session, settings.init_project)
    if project is None:
        project = queries.create_project(session, settings.init_project)
    if (
        settings.init_public_key
        and queries.get_key_by_public_key(session, settings.init_public_key) is None
    ):
        queries.create_key(
            session,
            project,
            public_key=settings.init_public_key,
            secret_key=settings.init_secret_key,
            note="SPYGLASS_INIT_PUBLIC_KEY",
        )
    return None


def _first_start(session: Session) -> FirstKeys | None:
    if queries.list_projects(session):
        return None
    project = queries.create_project(session, DEFAULT_PROJECT)
    key, secret = queries.create_key(session, project, note="created at first start")
    return FirstKeys(project.name, key.public_key, secret)
