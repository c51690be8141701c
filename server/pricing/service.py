"""Project model definitions: create, list (with the built-in ones), edit, delete."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import ModelPriceRow
from server.pricing.book import from_row
from server.pricing.catalog import ModelPrice, builtin_models


class DefinitionError(ValueError):
    pass


def all_definitions(session: Session, project_id: str) -> list[ModelPrice]:
    """The project's own definitions first (newest first), then the built-in ones by name."""
    own = [
        from_row(row)
        for row in session.scalars(
            select(ModelPriceRow)
            .where(ModelPriceRow.project_id == project_id)
            .order_by(ModelPriceRow.created_at.desc(), ModelPriceRow.id)
        )
    ]
    return own + sorted(builtin_models(), key=lambda m: (m.model_name, m.start_date or _MIN))


_MIN = datetime(1970, 1, 1, tzinfo=UTC)


def get_definition(session: Session, project_id: str, definition_id: str) -> ModelPrice | None:
    for builtin in builtin_models():
        if builtin.id == definition_id:
            return builtin
    row = session.get(ModelPriceRow, definition_id)
    if row is None or row.project_id != project_id:
        return None
    return from_row(row)


def create_definition(
    session: Session,
    project_id: str,
    *,
    model_name: str,
    match_pattern: str,
    prices: dict[str, float],
    start_date: datetime | None = None,
    unit: str = "TOKENS",
    tokenizer: str | None = None,
    tiers: list[dict[str, Any]] | None = None,
) -> ModelPrice:
    if not prices:
        raise DefinitionError("give at least one price (e.g. input and output, USD per token)")
    now = datetime.now(UTC)
    row = ModelPriceRow(
        id=str(uuid.uuid4()),
        project_id=project_id,
        model_name=model_name.strip(),
        match_pattern=match_pattern,
        start_date=start_date.astimezone(UTC) if start_date else None,
        unit=unit or "TOKENS",
        tokenizer=tokenizer,
        prices=prices,
        tiers=tiers or None,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return from_row(row)


def update_definition(
    session: Session,
    project_id: str,
    definition_id: str,
    *,
    model_name: str,
    match_pattern: str,
    prices: dict[str, float],
    start_date: datetime | None = None,
) -> ModelPrice | None:
    """Change one of the project's definitions in place (built-in ones are overridden, not
    edited); its tiers stay as they are. None when the project has no such definition."""
    row = session.get(ModelPriceRow, definition_id)
    if row is None or row.project_id != project_id:
        return None
    if not prices:
        raise DefinitionError("give at least one price (e.g. input and output, USD per token)")
    row.model_name = model_name.strip()
    row.match_pattern = match_pattern
    row.prices = prices
    row.start_date = start_date.astimezone(UTC) if start_date else None
    row.updated_at = datetime.now(UTC)
    session.flush()
    return from_row(row)


def delete_definition(session: Session, project_id: str, definition_id: str) -> bool:
    row = session.get(ModelPriceRow, definition_id)
    if row is None or row.project_id != project_id:
        return False
    session.delete(row)
    session.flush()
    return True
