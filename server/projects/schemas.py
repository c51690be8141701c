from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Organization(BaseModel):
    id: str
    name: str


class ProjectRead(BaseModel):
    id: str
    name: str
    organization: Organization
    metadata: dict[str, Any]


class Projects(BaseModel):
    data: list[ProjectRead]
