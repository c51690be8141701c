"""Which price definitions apply to a project, cached briefly per process.

Replicas each keep their own cache: a definition added on one replica applies on the others
within `TTL_SECONDS`; `spyglass costs recompute` fixes anything priced in between.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from server.db.models import ModelPriceRow
from server.ingest.usage import token_totals, total_cost
from server.pricing.catalog import ModelPrice, builtin_models, find_price, tiers_of
from server.pricing.cost import compute_cost
from server.pricing.names import normalise_model_name
from server.pricing.tokens import count_tokens, text_of

TTL_SECONDS = 5.0


def from_row(row: ModelPriceRow | Any) -> ModelPrice:
    return ModelPrice(
        id=row.id,
        model_name=row.model_name,
        match_pattern=row.match_pattern,
        prices=dict(row.prices),
        start_date=row.start_date,
        unit=row.unit,
        tokenizer=row.tokenizer,
        project_id=row.project_id,
        created_at=row.created_at,
        tiers=tiers_of(row.tiers),
    )


def project_prices(conn: Connection, project_id: str) -> list[ModelPrice]:
    rows = conn.execute(select(ModelPriceRow).where(ModelPriceRow.project_id == project_id))
    return [from_row(row) for row in rows]


class PriceBook:
    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, list[ModelPrice]]] = {}
        # (project, model name) → the definitions whose pattern matches it: a regex pass over
        # the whole table once per name, not once per observation.
        self._matching: dict[tuple[str, str], list[ModelPrice]] = {}
        self._lock = threading.Lock()

    def matching(self, conn: Connection, project_id: str, model: str) -> list[ModelPrice]:
        candidates = self.candidates(conn, project_id)
        key = (project_id, model)
        with self._lock:
            found = self._matching.get(key)
        if found is None:
            normalised = normalise_model_name(model)
            found = [c for c in candidates if c.matches(model, normalised)]
            with self._lock:
                if len(self._matching) > 50_000:
                    self._matching.clear()
                self._matching[key] = found
        return found

    def candidates(self, conn: Connection, project_id: str) -> list[ModelPrice]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(project_id)
        if cached is not None and now - cached[0] < TTL_SECONDS:
            return cached[1]
        found = project_prices(conn, project_id) + list(builtin_models())
        with self._lock:
            if cached is None or cached[1] != found:
                self._matching = {k: v for k, v in self._matching.items() if k[0] != project_id}
            self._cache[project_id] = (now, found)
        return found

    def invalidate(self, project_id: str) -> None:
        with self._lock:
            self._cache.pop(project_id, None)
            self._matching = {k: v for k, v in self._matching.items() if k[0] != project_id}


def price_observation(row: dict[str, Any], candidates: list[ModelPrice]) -> None:
    """Fill a stored observation row's computed cost, or its unpriced reason (in place)."""
    if row.get("cost_source") == "client" and row.get("cost_details"):
        row["unpriced_reason"] = None
        row["pricing_tier"] = None
        return
    model = row.get("model")
    if not model:
        if row.get("cost_source") == "computed":
            row["cost_details"] = None
        row.update(cost_source=None, unpriced_reason=None, model_price_id=None, pricing_tier=None)
        _derive(row)
        return
    at = row["start_time"]
    price = find_price(candidates, model, at if isinstance(at, datetime) else datetime.now(UTC))
    usage = row.get("usage_details")
    if row.get("usage_estimated") or (
        not usage and price is not None and row.get("level") != "ERROR"
    ):
        usage = _estimate(row, price.tokenizer if price else None)
        row["usage_details"] = usage or None
        row["usage_estimated"] = bool(usage)
    attributes = {"model_parameters": row.get("model_parameters"), "metadata": row.get("metadata")}
    priced = compute_cost(usage, price, model, attributes)
    row["cost_details"] = priced.cost
    row["cost_source"] = "computed" if priced.cost else None
    row["unpriced_reason"] = priced.reason
    row["model_price_id"] = price.id if price else None
    row["pricing_tier"] = priced.tier.name if priced.tier and priced.cost else None
    _derive(row)


def _estimate(row: dict[str, Any], tokenizer: str | None) -> dict[str, int]:
    usage: dict[str, int] = {}
    for side in ("input", "output"):
        text = text_of(row.get(side))
        if text:
            usage[side] = count_tokens(text, tokenizer)
    if usage:
        usage["total"] = sum(usage.values())
    return usage


def _derive(row: dict[str, Any]) -> None:
    row["total_cost"] = total_cost(row.get("cost_details"))
    row["input_tokens"], row["output_tokens"], row["total_tokens"] = token_totals(
        row.get("usage_details")
    )
