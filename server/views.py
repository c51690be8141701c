"""Stored rows → the Langfuse-compatible JSON shapes shared by several read routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from server.db.models import Observation, Score, Trace


def json_value(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def trace_view(trace: Trace, *, io: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": trace.id,
        "timestamp": trace.timestamp,
        "name": trace.name,
        "sessionId": trace.session_id,
        "release": trace.release,
        "version": trace.version,
        "userId": trace.user_id,
        "metadata": trace.metadata_,
        "tags": trace.tags,
        "public": trace.public,
        "bookmarked": trace.bookmarked,
        "environment": trace.environment,
        "externalId": trace.external_id,
        "projectId": trace.project_id,
        "createdAt": trace.created_at,
        "updatedAt": trace.updated_at,
        "htmlPath": f"/project/{trace.project_id}/traces/{trace.id}",
    }
    if io:
        view["input"] = json_value(trace.input)
        view["output"] = json_value(trace.output)
    return view


def legacy_usage(obs: Observation) -> dict[str, Any]:
    details = obs.usage_details or {}
    inputs = sum(v for k, v in details.items() if "input" in k)
    outputs = sum(v for k, v in details.items() if "output" in k)
    total = details.get("total", inputs + outputs)
    return {"input": inputs, "output": outputs, "total": total, "unit": obs.usage_unit or "TOKENS"}


def observation_view(obs: Observation) -> dict[str, Any]:
    usage = legacy_usage(obs)
    cost = obs.cost_details or {}
    latency = seconds_between(obs.start_time, obs.end_time)
    return {
        "id": obs.id,
        "traceId": obs.trace_id,
        "projectId": obs.project_id,
        "type": obs.type,
        "name": obs.name,
        "startTime": obs.start_time,
        "endTime": obs.end_time,
        "completionStartTime": obs.completion_start_time,
        "model": obs.model,
        "modelParameters": obs.model_parameters or {},
        "input": json_value(obs.input),
        "output": json_value(obs.output),
        "metadata": obs.metadata_,
        "level": obs.level,
        "statusMessage": obs.status_message,
        "parentObservationId": obs.parent_observation_id,
        "version": obs.version,
        "environment": obs.environment,
        "promptId": None,
        "promptName": obs.prompt_name,
        "promptVersion": obs.prompt_version,
        "usageDetails": obs.usage_details or {},
        "costDetails": cost,
        "usage": usage,
        "unit": usage["unit"],
        "promptTokens": usage["input"],
        "completionTokens": usage["output"],
        "totalTokens": usage["total"],
        "calculatedInputCost": _side_cost(cost, "input"),
        "calculatedOutputCost": _side_cost(cost, "output"),
        "calculatedTotalCost": obs.total_cost,
        "totalCost": obs.total_cost,
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
        "modelId": obs.model_price_id,
        "usagePricingTierName": obs.pricing_tier,
        # Spyglass additions: where the cost came from, or why there is none.
        "costSource": obs.cost_source,
        "unpricedReason": obs.unpriced_reason,
        "usageEstimated": obs.usage_estimated,
        "latency": latency,
        "timeToFirstToken": seconds_between(obs.start_time, obs.completion_start_time),
        "createdAt": obs.created_at,
        "updatedAt": obs.updated_at,
    }


def _side_cost(cost: dict[str, float], side: str) -> float | None:
    values = [v for k, v in cost.items() if k.startswith(side)]
    return sum(values) if values else None


def score_view(score: Score) -> dict[str, Any]:
    """The v1 score shape (`/traces/{id}` scores, `/scores/{id}`)."""
    return {
        "id": score.id,
        "projectId": score.project_id,
        "traceId": score.trace_id,
        "observationId": score.observation_id,
        "sessionId": score.session_id,
        "datasetRunId": score.dataset_run_id,
        "name": score.name,
        "value": score.value,
        "stringValue": score.string_value,
        "dataType": score.data_type,
        "source": score.source,
        "comment": score.comment,
        "metadata": score.metadata_,
        "configId": score.config_id,
        "queueId": score.queue_id,
        "authorUserId": score.author_user_id,
        "environment": score.environment,
        "timestamp": score.timestamp,
        "createdAt": score.created_at,
        "updatedAt": score.updated_at,
    }
