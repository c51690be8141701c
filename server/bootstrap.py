"""What `spyglass serve` does before it listens: migrate, then make sure a project and key exist."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from server.config import Settings
from server.db.migrate import upgrade_to_head
from server.projects import queries

DEFAULT_PROJECT = "default"


@dataclass
class FirstKeys:
    project_name: str
    public_key: str
    secret_key: str


def prepare_database(engine: Engine, settings: Settings) -> FirstKeys | None:
    """Migrate to head and seed projects; returns a key pair that was just created, to print once."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(engine)
    with Session(engine) as session:
        created = _init_from_settings(session, settings) or _first_start(session)
        session.commit()
    return created


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
