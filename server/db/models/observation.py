from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import PortableJSON, UtcDateTime


class Observation(Base):
    """A span, generation, event, agent, tool, chain, retriever, evaluator, embedding or guardrail."""

    __tablename__ = "observations"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(800), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(800))
    parent_observation_id: Mapped[str | None] = mapped_column(String(800))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime] = mapped_column(UtcDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completion_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    model: Mapped[str | None] = mapped_column(Text)
    model_parameters: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", PortableJSON)
    level: Mapped[str] = mapped_column(String(8))
    status_message: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str] = mapped_column(String(40))
    usage_details: Mapped[dict[str, int] | None] = mapped_column(PortableJSON)
    usage_unit: Mapped[str | None] = mapped_column(String(16))
    cost_details: Mapped[dict[str, float] | None] = mapped_column(PortableJSON)
    # Denormalised from cost_details for aggregation: the "total" entry, else the sum.
    total_cost: Mapped[float | None] = mapped_column(Float)
    # Denormalised from usage_details and the times, so that metrics over millions of rows
    # never parse JSON: all input keys, all output keys, and "total" (else their sum).
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    total_tokens: Mapped[int | None] = mapped_column(BigInteger)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    # "client" (sent with the event, always wins) or "computed" (usage × a model price);
    # NULL cost with `unpriced_reason` when Spyglass could not price it — never $0.
    cost_source: Mapped[str | None] = mapped_column(String(16))
    unpriced_reason: Mapped[str | None] = mapped_column(Text)
    model_price_id: Mapped[str | None] = mapped_column(String(255))
    # The name of the definition's tier whose prices applied; NULL: its default prices.
    pricing_tier: Mapped[str | None] = mapped_column(String(255))
    # True when usage was counted by Spyglass from the text, not sent by the client.
    usage_estimated: Mapped[bool] = mapped_column(Boolean, server_default=false())
    prompt_name: Mapped[str | None] = mapped_column(Text)
    prompt_version: Mapped[int | None] = mapped_column(Integer)
    # See Trace.implicit: trace_id, start_time and environment are still defaults.
    provisional: Mapped[bool] = mapped_column(Boolean)
    last_event_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_observations_project_trace", "project_id", "trace_id", "start_time"),
        Index("ix_observations_project_start", "project_id", "start_time"),
        # trace_id last: "traces with a generation of model X" reads the index alone.
        Index("ix_observations_project_model", "project_id", "model", "start_time", "trace_id"),
    )
