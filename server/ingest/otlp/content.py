"""Where a span's input and output can be found, in order of precedence.

Every source on a side is consumed: when several are present they carry the same content in
different shapes, and keeping all of them would store each prompt twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.ingest.otlp.attributes import json_or_text, take, unflatten
from server.ingest.otlp.decode import SpanEvent

Attrs = dict[str, Any]
Source = Callable[[Attrs], Any]

MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
OPERATION_DETAILS_EVENT = "gen_ai.client.inference.operation.details"


def _attribute(*keys: str) -> Source:
    def read(attrs: Attrs) -> Any:
        value = take(attrs, *keys)
        return None if value is None else json_or_text(value)

    return read


def _genai_input_messages(attrs: Attrs) -> Any:
    messages = take(attrs, "gen_ai.input.messages")
    if messages is None:
        return None
    messages = json_or_text(messages)
    instructions = take(attrs, "gen_ai.system_instructions")
    if instructions is not None and isinstance(messages, list):
        return [{"role": "system", "parts": json_or_text(instructions)}, *messages]
    return messages


def _indexed(*prefixes: str, inner: str | None = None) -> Source:
    """Messages flattened as `<prefix>.<i>.<field>` (OpenInference, OpenLLMetry)."""

    def read(attrs: Attrs) -> Any:
        for prefix in prefixes:
            dotted = prefix + "."
            keys = [
                k
                for k in attrs
                if k.startswith(dotted) and k[len(dotted) :].split(".", 1)[0].isdigit()
            ]
            if not keys:
                continue
            items = unflatten({k[len(dotted) :]: attrs.pop(k) for k in keys})
            if inner is not None and isinstance(items, list):
                items = [i.get(inner, i) if isinstance(i, dict) else i for i in items]
            return items
        return None

    return read


INPUT_SOURCES: tuple[Source, ...] = (
    _attribute("langfuse.observation.input"),
    _genai_input_messages,
    _indexed("llm.input_messages", inner="message"),
    _indexed("gen_ai.prompt", "llm.prompts"),
    _attribute("gen_ai.tool.call.arguments"),
    _attribute("traceloop.entity.input"),
    _attribute("input.value"),
    _attribute("mlflow.spanInputs", "lmnr.span.input", "gen_ai.task.input"),
    _attribute("gen_ai.prompt"),
)
OUTPUT_SOURCES: tuple[Source, ...] = (
    _attribute("langfuse.observation.output"),
    _attribute("gen_ai.output.messages"),
    _indexed("llm.output_messages", inner="message"),
    _indexed("gen_ai.completion", "llm.completions"),
    _attribute("gen_ai.tool.call.result"),
    _attribute("traceloop.entity.output"),
    _attribute("output.value"),
    _attribute("mlflow.spanOutputs", "lmnr.span.output", "gen_ai.task.output"),
    _attribute("gen_ai.completion"),
)


def _first(attrs: Attrs, sources: tuple[Source, ...]) -> Any:
    """The first source with a value. The others are read too and dropped: they hold the same
    content in another shape (a raw request beside its messages), as Langfuse also treats them."""
    found = None
    for source in sources:
        value = source(attrs)
        if found is None:
            found = value
    return found


def span_input_output(attrs: Attrs, events: list[SpanEvent]) -> tuple[Any, Any]:
    found_input = _first(attrs, INPUT_SOURCES)
    found_output = _first(attrs, OUTPUT_SOURCES)
    if found_input is None or found_output is None:
        event_input, event_output = content_from_events(
            [(e.name, dict(e.attributes), None) for e in events]
        )
        found_input = found_input if found_input is not None else event_input
        found_output = found_output if found_output is not None else event_output
    for key in ("input.mime_type", "output.mime_type"):
        attrs.pop(key, None)
    return found_input, found_output


def content_from_events(events: list[tuple[str, Attrs, Any]]) -> tuple[Any, Any]:
    """GenAI content carried by span events or log records: (name, attributes, body) each."""
    messages: list[Any] = []
    choices: list[Any] = []
    prompt: Any = None
    completion: Any = None
    for name, attributes, body in events:
        if name in MESSAGE_EVENTS:
            payload = body if body is not None else _event_payload(attributes)
            message = dict(payload) if isinstance(payload, dict) else {"content": payload}
            message.setdefault("role", MESSAGE_EVENTS[name])
            messages.append(message)
        elif name == "gen_ai.choice":
            payload = body if body is not None else _event_payload(attributes)
            if isinstance(payload, dict) and isinstance(payload.get("message"), dict):
                choices.append(payload["message"])
            else:
                choices.append(payload)
        elif name == "gen_ai.content.prompt":
            prompt = json_or_text(attributes.get("gen_ai.prompt"))
        elif name == "gen_ai.content.completion":
            completion = json_or_text(attributes.get("gen_ai.completion"))
        elif name == OPERATION_DETAILS_EVENT:
            prompt = _genai_input_messages(attributes) if prompt is None else prompt
            details_output = attributes.get("gen_ai.output.messages")
            if completion is None and details_output is not None:
                completion = json_or_text(details_output)
    return (messages or prompt or None), (choices or completion or None)


def _event_payload(attributes: Attrs) -> Any:
    content = attributes.get("content", attributes.get("gen_ai.event.content"))
    if content is not None:
        return json_or_text(content)
    return {k: v for k, v in attributes.items() if k not in ("event.name", "gen_ai.system")} or None
