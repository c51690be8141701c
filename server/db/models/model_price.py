from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import PortableJSON, UtcDateTime


class ModelPriceRow(Base):
    """A project's own model price definition (built-in ones ship in server/pricing)."""

    __tablename__ = "model_prices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    model_name: Mapped[str] = mapped_column(Text)
    match_pattern: Mapped[str] = mapped_column(Text)
    # The day from which these prices apply; NULL: always.
    start_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    unit: Mapped[str] = mapped_column(String(16))
    tokenizer: Mapped[str | None] = mapped_column(String(64))
    # {usage key: USD per unit}
    prices: Mapped[dict[str, float]] = mapped_column(PortableJSON)
    # Conditional prices: [{name, priority, conditions: [...], prices: {key: USD per unit}}]
    # (see server.pricing.catalog.PriceTier); NULL: the default prices only.
    tiers: Mapped[list[dict[str, Any]] | None] = mapped_column(PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
