"""Token usage and cost from span attributes, in every naming the conventions have used."""

from __future__ import annotations

from typing import Any

from server.ingest.otlp.attributes import json_object, take, take_prefixed
from server.ingest.usage import cost_details, exclusive_input, usage_details, with_total

USAGE_RENAMES = {
    "input_tokens": "input",
    "prompt_tokens": "input",
    "prompt": "input",
    "output_tokens": "output",
    "completion_tokens": "output",
    "completion": "output",
    "total_tokens": "total",
    "total": "total",
    "cache_read.input_tokens": "input_cached_tokens",
    "cache_read_input_tokens": "input_cached_tokens",
    "details.cache_read_tokens": "input_cached_tokens",
    "prompt_details.cache_read": "input_cached_tokens",
    "cache_creation.input_tokens": "input_cache_creation",
    "cache_creation_input_tokens": "input_cache_creation",
    "details.cache_write_tokens": "input_cache_creation",
    "prompt_details.cache_write": "input_cache_creation",
    "reasoning.output_tokens": "output_reasoning_tokens",
    "reasoning_tokens": "output_reasoning_tokens",
    "completion_details.reasoning": "output_reasoning_tokens",
    "prompt_details.audio": "input_audio_tokens",
    "completion_details.audio": "output_audio_tokens",
}


def usage_from(attrs: dict[str, Any]) -> dict[str, int]:
    explicit = json_object(take(attrs, "langfuse.observation.usage_details"))
    if explicit is not None:
        return with_total(usage_details(explicit))
    raw: dict[str, Any] = {}
    for prefix in ("llm.usage.", "llm.token_count.", "gen_ai.usage."):
        found = take_prefixed(attrs, prefix)
        for key in ("cost", "input_cost", "output_cost"):
            if key in found and prefix == "gen_ai.usage.":
                attrs[prefix + key] = found.pop(key)  # a cost, read by _cost
        raw.update(found)
    if not raw:
        return {}
    usage: dict[str, int] = {}
    for key, value in raw.items():
        counts = usage_details({USAGE_RENAMES.get(key, key.removeprefix("details.")): value})
        for name, count in counts.items():
            usage[name] = count
    for side, details in (
        ("input", ("input_cached_tokens", "input_cache_creation", "input_audio_tokens")),
        ("output", ("output_reasoning_tokens", "output_audio_tokens")),
    ):
        # GenAI semantics: input_tokens already include cache tokens, output_tokens include
        # reasoning; keep each count once (unless the sender counted them apart, as Anthropic).
        exclusive_input(usage, side, details)
    return with_total(usage)


def cost_from(attrs: dict[str, Any]) -> dict[str, float]:
    explicit = json_object(take(attrs, "langfuse.observation.cost_details"))
    if explicit is not None:
        return cost_details(explicit)
    llm_cost = take_prefixed(attrs, "llm.cost.")
    cost = cost_details(
        {
            "total": llm_cost.get("total", attrs.pop("gen_ai.usage.cost", None)),
            "input": llm_cost.get("prompt", attrs.pop("gen_ai.usage.input_cost", None)),
            "output": llm_cost.get("completion", attrs.pop("gen_ai.usage.output_cost", None)),
        }
    )
    return cost
