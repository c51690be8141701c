from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import ApiKey, Project
from server.projects.keys import hash_secret, new_key_pair, secret_hint


class ProjectExists(ValueError):
    pass


def get_project_by_name(session: Session, name: str) -> Project | None:
    return session.scalar(select(Project).where(Project.name == name))


def list_projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.created_at, Project.name)))


def create_project(session: Session, name: str) -> Project:
    if get_project_by_name(session, name) is not None:
        raise ProjectExists(f"a project named {name!r} already exists")
    project = Project(id=str(uuid.uuid4()), name=name, created_at=datetime.now(UTC))
    session.add(project)
    session.flush()
    return project


def create_key(
    session: Session,
    project: Project,
    *,
    public_key: str | None = None,
    secret_key: str | None = None,
    note: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key pair for the project; returns the key row and the secret (shown only once)."""
    generated_public, generated_secret = new_key_pair()
    public_key = public_key or generated_public
    secret_key = secret_key or generated_secret
    key = ApiKey(
        id=str(uuid.uuid4()),
        project_id=project.id,
        public_key=public_key,
        secret_hash=hash_secret(secret_key),
        secret_hint=secret_hint(secret_key),
        note=note,
        created_at=datetime.now(UTC),
    )
    session.add(key)
    session.flush()
    return key, secret_key


def get_key_by_public_key(session: Session, public_key: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.public_key == public_key))


def list_keys(session: Session, project: Project | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if project is not None:
        query = query.where(ApiKey.project_id == project.id)
    return list(session.scalars(query))


def revoke_key(session: Session, public_key: str) -> ApiKey | None:
    key = get_key_by_public_key(session, public_key)
    if key is not None and key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        session.flush()
    return key
