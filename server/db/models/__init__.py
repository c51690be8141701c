"""Every table, imported here so `Base.metadata` is complete for alembic and create_all."""

from server.db.models.media import Media
from server.db.models.metric_rollup import (
    MetricDirtyHour,
    metric_hours,
    prompt_score_hours,
    trace_hours,
    user_hours,
)
from server.db.models.model_price import ModelPriceRow
from server.db.models.observation import Observation
from server.db.models.project import ApiKey, Project
from server.db.models.prompt import PromptLabel, PromptVersion
from server.db.models.rollup import TraceRollup
from server.db.models.score import Score
from server.db.models.trace import Trace
from server.db.models.user import Membership, ServerSetting, User

__all__ = [
    "ApiKey",
    "Media",
    "MetricDirtyHour",
    "Membership",
    "ModelPriceRow",
    "Observation",
    "Project",
    "PromptLabel",
    "PromptVersion",
    "Score",
    "ServerSetting",
    "Trace",
    "TraceRollup",
    "User",
    "metric_hours",
    "prompt_score_hours",
    "trace_hours",
    "user_hours",
]
