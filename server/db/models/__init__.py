"""Every table, imported here so `Base.metadata` is complete for alembic and create_all."""

from server.db.models.media import Media
from server.db.models.observation import Observation
from server.db.models.project import ApiKey, Project
from server.db.models.prompt import PromptLabel, PromptVersion
from server.db.models.score import Score
from server.db.models.trace import Trace

__all__ = [
    "ApiKey",
    "Media",
    "Observation",
    "Project",
    "PromptLabel",
    "PromptVersion",
    "Score",
    "Trace",
]
