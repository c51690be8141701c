from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

Label = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_\-.]+$", max_length=36)]


class ChatMessage(BaseModel):
    role: str
    content: Any


class Placeholder(BaseModel):
    type: Literal["placeholder"]
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]


class PromptCreate(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    type: Literal["text", "chat"] | None = None
    prompt: str | list[Placeholder | ChatMessage]
    config: Any = None
    labels: list[Label] | None = None
    tags: list[str] | None = None
    commitMessage: Annotated[str, StringConstraints(max_length=500)] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if "|" in value or value in ("new", "metrics", "prompt-detail"):
            raise ValueError("prompt names cannot contain '|' nor be new, metrics or prompt-detail")
        return value

    @property
    def kind(self) -> str:
        return self.type or ("chat" if isinstance(self.prompt, list) else "text")


class LabelsUpdate(BaseModel):
    newLabels: list[Label] = Field(
        description="Labels to move to this version ('latest' is managed)."
    )
