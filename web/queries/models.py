"""Model names seen in a project's recent traffic, for the models page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from server.db.models import Observation

RECENT = timedelta(days=7)
MAX_NAMES = 200


@dataclass(frozen=True)
class SeenModel:
    name: str
    observations: int
    unpriced: int


def recent_models(
    session: Session, project_id: str, now: datetime | None = None
) -> list[SeenModel]:
    since = (now or datetime.now(UTC)) - RECENT
    query = (
        select(
            Observation.model,
            func.count().label("n"),
            func.sum(case((Observation.total_cost.is_(None), 1), else_=0)).label("unpriced"),
        )
        .where(
            Observation.project_id == project_id,
            Observation.start_time >= since,
            Observation.model.is_not(None),
        )
        .group_by(Observation.model)
        .order_by(func.count().desc(), Observation.model)
        .limit(MAX_NAMES)
    )
    return [SeenModel(str(model), int(n), int(u)) for model, n, u in session.execute(query)]
