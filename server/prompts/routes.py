from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from server.db.models import PromptVersion
from server.deps import SessionDep
from server.pagination import Page, page_meta
from server.projects.auth import PromptKeyDep
from server.prompts import service
from server.prompts.schemas import LabelsUpdate, PromptCreate
from server.responses import ApiResponse

router = APIRouter(prefix="/api/public/v2/prompts", tags=["prompts"])


def prompt_view(version: PromptVersion, labels: list[str]) -> dict[str, Any]:
    prompt = version.prompt
    if version.type == "chat" and isinstance(prompt, list):
        prompt = [
            m if m.get("type") == "placeholder" else {**m, "type": "chatmessage"}
            for m in prompt
            if isinstance(m, dict)
        ]
    return {
        "id": version.id,
        "projectId": version.project_id,
        "name": version.name,
        "version": version.version,
        "type": version.type,
        "prompt": prompt,
        "config": version.config,
        "labels": labels,
        "tags": version.tags,
        "commitMessage": version.commit_message,
        "createdAt": version.created_at,
        "updatedAt": version.updated_at,
        "createdBy": "API",
        "isActive": service.PRODUCTION in labels,
        "resolutionGraph": None,
    }


def _view(session: SessionDep, version: PromptVersion) -> dict[str, Any]:
    labels = service.labels_of(session, version.project_id, version.name).get(version.version, [])
    return prompt_view(version, labels)


@router.post("", status_code=201, summary="Create a new version of a prompt")
def create_prompt(body: PromptCreate, session: SessionDep, principal: PromptKeyDep) -> Any:
    version = service.create_version(session, principal.project_id, body)
    session.commit()
    return ApiResponse(_view(session, version), status_code=201)


@router.get("", summary="Prompts by name, with their versions and labels")
def list_prompts(
    session: SessionDep,
    principal: PromptKeyDep,
    name: str | None = None,
    label: str | None = None,
    tag: str | None = None,
    page: Page = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    query = select(PromptVersion).where(PromptVersion.project_id == principal.project_id)
    if name is not None:
        query = query.where(PromptVersion.name == name)
    by_name: dict[str, list[PromptVersion]] = defaultdict(list)
    for version in session.scalars(query.order_by(PromptVersion.name, PromptVersion.version)):
        by_name[version.name].append(version)
    items = []
    for prompt_name, versions in by_name.items():
        labels = service.labels_of(session, principal.project_id, prompt_name)
        all_labels = sorted({lab for group in labels.values() for lab in group})
        newest = versions[-1]
        if (label and label not in all_labels) or (tag and tag not in newest.tags):
            continue
        items.append(
            {
                "name": prompt_name,
                "type": newest.type,
                "versions": [v.version for v in versions],
                "labels": all_labels,
                "tags": newest.tags,
                "lastUpdatedAt": max(v.updated_at for v in versions),
                "lastConfig": newest.config,
            }
        )
    return {
        "data": items[(page - 1) * limit : page * limit],
        "meta": page_meta(page, limit, len(items)),
    }


@router.patch("/{name:path}/versions/{version}", summary="Move labels to a version")
def update_labels(
    name: str, version: int, body: LabelsUpdate, session: SessionDep, principal: PromptKeyDep
) -> dict[str, Any]:
    updated = service.relabel(session, principal.project_id, name, version, body)
    session.commit()
    return _view(session, updated)


@router.get("/{name:path}", summary="A prompt by version or label (default: production)")
def get_prompt(
    name: str,
    session: SessionDep,
    principal: PromptKeyDep,
    version: int | None = None,
    label: str | None = None,
    resolve: bool = True,
) -> dict[str, Any]:
    found = service.resolve(session, principal.project_id, name, version=version, label=label)
    return _view(session, found)
