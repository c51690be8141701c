"""Prompt versioning rules.

* Versions of a name are numbered 1, 2, … and never change.
* A label sits on one version at a time: giving it to a version takes it off the others.
* `latest` always marks the newest version; clients cannot set it.
* Tags are the same on every version of a name; a new version without tags keeps the old ones.
* A name keeps its type (text or chat).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.db.models import PromptLabel, PromptVersion
from server.errors import BadRequest, NotFound
from server.prompts.schemas import LabelsUpdate, PromptCreate

LATEST = "latest"
PRODUCTION = "production"


def create_version(session: Session, project_id: str, body: PromptCreate) -> PromptVersion:
    newest = _newest(session, project_id, body.name)
    if newest is not None and newest.type != body.kind:
        raise BadRequest(
            [{"path": ["type"], "message": f"prompt {body.name!r} is a {newest.type} prompt"}]
        )
    now = datetime.now(UTC)
    tags = sorted(set(body.tags)) if body.tags is not None else (newest.tags if newest else [])
    prompt: Any = (
        body.prompt if isinstance(body.prompt, str) else [m.model_dump() for m in body.prompt]
    )
    version = PromptVersion(
        project_id=project_id,
        name=body.name,
        version=(newest.version + 1) if newest else 1,
        id=str(uuid.uuid4()),
        type=body.kind,
        prompt=prompt,
        config=body.config if body.config is not None else {},
        tags=tags,
        commit_message=body.commitMessage,
        created_at=now,
        updated_at=now,
    )
    session.add(version)
    session.flush()
    if body.tags is not None:
        for older in _versions(session, project_id, body.name):
            older.tags = tags
    _move_labels(session, version, [*(body.labels or []), LATEST])
    return version


def relabel(
    session: Session, project_id: str, name: str, number: int, body: LabelsUpdate
) -> PromptVersion:
    if LATEST in body.newLabels:
        raise BadRequest(
            [
                {
                    "path": ["newLabels"],
                    "message": "'latest' is set by the server on the newest version",
                }
            ]
        )
    version = session.get(PromptVersion, (project_id, name, number))
    if version is None:
        raise NotFound(f"Prompt not found: '{name}' with version {number}")
    _move_labels(session, version, body.newLabels)
    version.updated_at = datetime.now(UTC)
    return version


def resolve(
    session: Session, project_id: str, name: str, *, version: int | None, label: str | None
) -> PromptVersion:
    if version is not None:
        found = session.get(PromptVersion, (project_id, name, version))
        if found is None:
            raise NotFound(f"Prompt not found: '{name}' with version {version}")
        return found
    wanted = label or PRODUCTION
    pointer = session.get(PromptLabel, (project_id, name, wanted))
    found = session.get(PromptVersion, (project_id, name, pointer.version)) if pointer else None
    if found is None:
        raise NotFound(f"Prompt not found: '{name}' with label '{wanted}'")
    return found


def labels_of(session: Session, project_id: str, name: str) -> dict[int, list[str]]:
    labels: dict[int, list[str]] = {}
    query = select(PromptLabel).where(
        PromptLabel.project_id == project_id, PromptLabel.name == name
    )
    for row in session.scalars(query.order_by(PromptLabel.label)):
        labels.setdefault(row.version, []).append(row.label)
    return labels


def _move_labels(session: Session, version: PromptVersion, labels: list[str]) -> None:
    for label in dict.fromkeys(labels):
        pointer = session.get(PromptLabel, (version.project_id, version.name, label))
        if pointer is None:
            session.add(
                PromptLabel(
                    project_id=version.project_id,
                    name=version.name,
                    label=label,
                    version=version.version,
                )
            )
        else:
            pointer.version = version.version
    session.flush()


def _newest(session: Session, project_id: str, name: str) -> PromptVersion | None:
    query = select(PromptVersion).where(
        PromptVersion.project_id == project_id, PromptVersion.name == name
    )
    return session.scalars(query.order_by(PromptVersion.version.desc()).limit(1)).first()


def _versions(session: Session, project_id: str, name: str) -> list[PromptVersion]:
    query = select(PromptVersion).where(
        PromptVersion.project_id == project_id, PromptVersion.name == name
    )
    return list(session.scalars(query))


def delete_prompt(session: Session, project_id: str, name: str) -> int:
    session.execute(
        delete(PromptLabel).where(PromptLabel.project_id == project_id, PromptLabel.name == name)
    )
    result = session.execute(
        delete(PromptVersion).where(
            PromptVersion.project_id == project_id, PromptVersion.name == name
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def count_names(session: Session, project_id: str) -> int:
    query = select(func.count(func.distinct(PromptVersion.name))).where(
        PromptVersion.project_id == project_id
    )
    return int(session.scalar(query) or 0)
