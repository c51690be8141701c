"""One OTLP span → the same records the batch endpoint produces (a trace and an observation).

Precedence follows the Langfuse server and the conventions in shared/reference: Langfuse's own
`langfuse.*` attributes first, then OpenInference, the OTel GenAI conventions (every generation
of them), OpenLLMetry/Traceloop. Whatever maps to nothing is kept under the observation's
metadata (`attributes`, `resourceAttributes`, `scope`, `events`), so nothing is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from server.ingest.environment import normalise_environment
from server.ingest.otlp.attributes import (
    as_tags,
    discard,
    json_encoded,
    json_object,
    json_or_text,
    take,
    take_prefixed,
    truthy,
    unflatten,
)
from server.ingest.otlp.content import span_input_output
from server.ingest.otlp.decode import STATUS_ERROR, Span
from server.ingest.otlp.usage import cost_from, usage_from
from server.ingest.records import Kind, Record

OBSERVATION_TYPES = {
    "span",
    "generation",
    "event",
    "agent",
    "tool",
    "chain",
    "retriever",
    "evaluator",
    "embedding",
    "guardrail",
}
OPENINFERENCE_KINDS = {
    "LLM": "GENERATION",
    "EMBEDDING": "EMBEDDING",
    "CHAIN": "CHAIN",
    "RETRIEVER": "RETRIEVER",
    "RERANKER": "RETRIEVER",
    "TOOL": "TOOL",
    "AGENT": "AGENT",
    "GUARDRAIL": "GUARDRAIL",
    "EVALUATOR": "EVALUATOR",
    "PROMPT": "SPAN",
    "UNKNOWN": "SPAN",
}
GENAI_OPERATIONS = {
    "chat": "GENERATION",
    "text_completion": "GENERATION",
    "generate_content": "GENERATION",
    "completion": "GENERATION",
    "generate": "GENERATION",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
    "invoke_workflow": "CHAIN",
    "retrieval": "RETRIEVER",
}
TRACELOOP_KINDS = {"workflow": "CHAIN", "task": "SPAN", "agent": "AGENT", "tool": "TOOL"}
MODEL_KEYS = (
    "langfuse.observation.model.name",
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.response.model_name",
    "llm.model_name",
    "llm.response.model",
    "llm.request.model",
    "embedding.model_name",
    "mlflow.llm.model",
    "ai.model.id",
    "model",
)
LANGFUSE_GENERATION_KEYS = (
    "langfuse.observation.model.name",
    "langfuse.observation.usage_details",
    "langfuse.observation.cost_details",
    "langfuse.observation.completion_start_time",
    "langfuse.observation.model.parameters",
    "langfuse.observation.prompt.name",
)
LEVEL_ALIASES = {
    "TRACE": "DEBUG",
    "VERBOSE": "DEBUG",
    "DEBUG": "DEBUG",
    "INFO": "DEFAULT",
    "LOG": "DEFAULT",
    "NOTICE": "DEFAULT",
    "OK": "DEFAULT",
    "SUCCESS": "DEFAULT",
    "DEFAULT": "DEFAULT",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "FATAL": "ERROR",
    "CRITICAL": "ERROR",
    "ERROR": "ERROR",
}


def span_records(span: Span, project_id: str, received: datetime) -> list[Record]:
    attrs = dict(span.attributes)
    start = span.start or span.end or received
    end = span.end if span.end is not None else None
    roots = (
        truthy(take(attrs, "langfuse.internal.as_root")),
        truthy(take(attrs, "langfuse.internal.is_app_root")),
    )
    parent = None if any(roots) else span.parent_span_id
    obs_type = _observation_type(attrs)
    fields: dict[str, Any] = {
        "type": obs_type,
        "trace_id": span.trace_id,
        "parent_observation_id": parent,
        "name": span.name or None,
        "start_time": start,
        "end_time": end,
    }
    _set(fields, "model", take(attrs, *MODEL_KEYS))
    _set(fields, "model_parameters", _model_parameters(attrs))
    usage = usage_from(attrs)
    if usage:
        fields["usage_details"] = usage
    cost = cost_from(attrs)
    if cost:
        fields["cost_details"] = cost
    _set(fields, "completion_start_time", _completion_start(attrs, start) or _first_token(span))
    level, status = _level(attrs, span)
    fields["level"] = level
    _set(fields, "status_message", status)
    prompt_name = take(attrs, "langfuse.observation.prompt.name", "langfuse.prompt.name")
    prompt_version = take(attrs, "langfuse.observation.prompt.version", "langfuse.prompt.version")
    if obs_type == "GENERATION" and prompt_name is not None:
        fields["prompt_name"] = str(prompt_name)
        fields["prompt_version"] = _int(prompt_version)
    obs_input, obs_output = span_input_output(attrs, span.events)
    if obs_input is not None:
        fields["input"] = _json_text(obs_input)
    if obs_output is not None:
        fields["output"] = _json_text(obs_output)
    trace_fields = _trace_fields(attrs, span.resource, is_root=parent is None)
    _set(fields, "version", trace_fields.get("version"))
    fields["environment"] = trace_fields.get("environment", "default")
    if parent is None:
        trace_fields.setdefault("name", span.name or None)
        trace_fields["timestamp"] = start
        if "input" not in trace_fields and obs_input is not None:
            trace_fields["input"] = fields["input"]
        if "output" not in trace_fields and obs_output is not None:
            trace_fields["output"] = fields["output"]
    fields["metadata"] = _metadata(attrs, span)
    event_id = f"{span.trace_id}:{span.span_id}"
    trace = Record(
        Kind.TRACE,
        project_id,
        span.trace_id,
        start,
        event_id,
        {k: v for k, v in trace_fields.items() if v is not None},
        is_create=parent is None,
    )
    observation = Record(
        Kind.OBSERVATION,
        project_id,
        span.span_id,
        start,
        event_id,
        {k: v for k, v in fields.items() if v is not None},
    )
    return [trace, observation]


def _set(fields: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != {} and value != "":
        fields[key] = value


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _observation_type(attrs: dict[str, Any]) -> str:
    explicit = str(take(attrs, "langfuse.observation.type") or "").lower()
    if explicit in OBSERVATION_TYPES:
        if explicit == "span" and any(attrs.get(k) is not None for k in LANGFUSE_GENERATION_KEYS):
            return "GENERATION"  # Python SDKs before 3.3 sent generations as spans
        return explicit.upper()
    kind = str(take(attrs, "openinference.span.kind") or "").upper()
    if kind in OPENINFERENCE_KINDS:
        return OPENINFERENCE_KINDS[kind]
    operation = str(attrs.get("gen_ai.operation.name") or "").lower()
    if operation in GENAI_OPERATIONS:
        return GENAI_OPERATIONS[operation]
    traceloop = str(attrs.get("traceloop.span.kind") or "").lower()
    if traceloop in TRACELOOP_KINDS:
        return TRACELOOP_KINDS[traceloop]
    if attrs.get("gen_ai.tool.name") is not None or attrs.get("gen_ai.tool.call.id") is not None:
        return "TOOL"
    if str(attrs.get("llm.request.type") or "").lower() == "embedding":
        return "EMBEDDING"
    if (
        any(attrs.get(k) is not None for k in MODEL_KEYS if k != "model")
        or "llm.request.type" in attrs
    ):
        return "GENERATION"
    return "SPAN"


def _model_parameters(attrs: dict[str, Any]) -> dict[str, Any] | None:
    for key in (
        "langfuse.observation.model.parameters",
        "llm.invocation_parameters",
        "embedding.invocation_parameters",
        "model_config",
    ):
        params = json_object(attrs.get(key))
        if params is not None:
            del attrs[key]
            return params
    params = take_prefixed(attrs, "gen_ai.request.")
    if (
        "model" in params
    ):  # not a parameter; left for the metadata when it lost to another model key
        attrs["gen_ai.request.model"] = params.pop("model")
    return params or None


def _completion_start(attrs: dict[str, Any], start: datetime) -> datetime | None:
    raw = json_or_text(take(attrs, "langfuse.observation.completion_start_time"))
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    first_chunk = take(attrs, "gen_ai.response.time_to_first_chunk")
    if isinstance(first_chunk, (int, float)) and first_chunk >= 0:
        return start + timedelta(seconds=float(first_chunk))
    return None


def _first_token(span: Span) -> datetime | None:
    """OpenInference marks the first streamed chunk with a span event."""
    for event in span.events:
        if event.name.lower().startswith("first token") and event.time is not None:
            return event.time
    return None


def _level(attrs: dict[str, Any], span: Span) -> tuple[str, str | None]:
    level = LEVEL_ALIASES.get(str(take(attrs, "langfuse.observation.level") or "").upper())
    if level is None:
        level = "ERROR" if span.status_code == STATUS_ERROR else "DEFAULT"
    message = take(attrs, "langfuse.observation.status_message") or span.status_message or None
    if message is None:
        for event in span.events:
            if event.name == "exception":
                message = event.attributes.get("exception.message") or event.attributes.get(
                    "exception.type"
                )
                break
    return level, str(message) if message is not None else None


def _trace_fields(
    attrs: dict[str, Any], resource: dict[str, Any], *, is_root: bool
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    fields["user_id"] = take(
        attrs,
        "langfuse.user.id",
        "user.id",
        "traceloop.association.properties.user_id",
        "ai.telemetry.metadata.userId",
        "gen_ai.user",
        "llm.user",
    )
    fields["session_id"] = take(
        attrs,
        "langfuse.session.id",
        "session.id",
        "gen_ai.conversation.id",
        "traceloop.association.properties.session_id",
        "ai.telemetry.metadata.sessionId",
    )
    tags = as_tags(
        take(
            attrs, "langfuse.trace.tags", "langfuse.tags", "tag.tags", "ai.telemetry.metadata.tags"
        )
    )
    if tags:
        fields["tags"] = tags
    public = take(attrs, "langfuse.trace.public", "langfuse.public")
    if public is not None:
        fields["public"] = truthy(public)
    name = take(attrs, "langfuse.trace.name", "traceloop.workflow.name")
    if name is not None:
        fields["name"] = str(name)
    for side in ("input", "output"):
        value = take(attrs, f"langfuse.trace.{side}")
        if value is not None:
            fields[side] = _json_text(json_or_text(value))
    metadata = json_object(take(attrs, "langfuse.trace.metadata")) or {}
    for key, value in take_prefixed(attrs, "langfuse.trace.metadata.").items():
        metadata[key] = json_encoded(value)
    if metadata:
        fields["metadata"] = metadata
    environment = take(
        attrs, "langfuse.environment", "deployment.environment.name", "deployment.environment"
    )
    if environment is None:
        environment = take(
            dict(resource),
            "langfuse.environment",
            "deployment.environment.name",
            "deployment.environment",
        )
    fields["environment"] = normalise_environment(
        str(environment) if environment is not None else None
    )
    release = take(attrs, "langfuse.release") or resource.get("langfuse.release")
    version = take(attrs, "langfuse.version") or resource.get("service.version")
    fields["release"] = str(release) if release is not None else None
    fields["version"] = str(version) if version is not None else None
    for key in ("user_id", "session_id"):
        if fields[key] is not None:
            fields[key] = str(fields[key])
    return fields


def _metadata(attrs: dict[str, Any], span: Span) -> dict[str, Any]:
    metadata = json_object(take(attrs, "langfuse.observation.metadata")) or {}
    flattened = take_prefixed(attrs, "langfuse.observation.metadata.")
    metadata.update(_nest({k: json_encoded(v) for k, v in flattened.items()}))
    openinference = json_object(attrs.get("metadata"))
    if openinference is not None:
        del attrs["metadata"]
        metadata.update(openinference)
    traceloop = take_prefixed(attrs, "traceloop.association.properties.")
    if traceloop:
        metadata.update(traceloop)
    discard(attrs, "llm.request.type")
    # Embedding vectors are large and nobody reads them back (OpenInference keeps them).
    for key in [
        k for k in attrs if k.startswith("embedding.embeddings.") and k.endswith(".vector")
    ]:
        del attrs[key]
    if attrs:
        metadata["attributes"] = attrs
    if span.resource:
        metadata["resourceAttributes"] = span.resource
    metadata["scope"] = {"name": span.scope_name, "version": span.scope_version}
    other_events = [
        {"name": e.name, "time": e.time.isoformat() if e.time else None, "attributes": e.attributes}
        for e in span.events
        if not e.name.startswith("gen_ai.")
    ]
    if other_events:
        metadata["events"] = other_events
    return metadata


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested = unflatten(flat)
    return nested if isinstance(nested, dict) else {"items": nested}
