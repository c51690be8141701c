from __future__ import annotations

from fastapi import APIRouter

from server.db.models import Project
from server.deps import SessionDep
from server.errors import NotFound
from server.projects.auth import ProjectDep
from server.projects.schemas import Organization, ProjectRead, Projects

router = APIRouter(prefix="/api/public", tags=["projects"])

# Spyglass has no organisations; every project reports this one so Langfuse clients parse it.
DEFAULT_ORGANIZATION = Organization(id="spyglass", name="Spyglass")


@router.get(
    "/projects", response_model=Projects, summary="The project of the key used (auth check)"
)
def get_projects(session: SessionDep, principal: ProjectDep) -> Projects:
    project = session.get(Project, principal.project_id)
    if project is None:
        raise NotFound("project not found")
    return Projects(
        data=[
            ProjectRead(
                id=project.id, name=project.name, organization=DEFAULT_ORGANIZATION, metadata={}
            )
        ]
    )
