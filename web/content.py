"""Stored input, output and metadata → parts the detail panel displays.

* Chat messages (a list of `{"role", "content"}`, a request with `messages`, a single message,
  or a completion with `choices`) become a conversation: one turn per message with its role,
  its text parts and its tool calls.
* A string is text; any other JSON is pretty-printed (the template puts it in `<details>`).
* Stored text that is not valid JSON is shown as it is, as text.
* Long text is folded: the first `FOLD_AT` characters are shown and the rest sits behind a
  `<details>`. Beyond `MAX_CHARS` the dashboard stops and points to the API, so a multi-megabyte
  payload cannot make the page unusable.

Everything here is plain data; the template escapes it like any other text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from server.ingest.sanitize import restore

FOLD_AT = 1500
# Folding that would hide less than this only costs a click.
FOLD_SLACK = 300
MAX_CHARS = 200_000
KNOWN_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


@dataclass(frozen=True, slots=True)
class Folded:
    head: str
    rest: str = ""
    # Characters beyond MAX_CHARS, not shown at all.
    cut: int = 0

    @property
    def folded(self) -> bool:
        return bool(self.rest)

    @property
    def rest_chars(self) -> int:
        return len(self.rest)


def fold(text: str) -> Folded:
    cut = max(0, len(text) - MAX_CHARS)
    if cut:
        text = text[:MAX_CHARS]
    if len(text) <= FOLD_AT + FOLD_SLACK:
        return Folded(text, "", cut)
    return Folded(text[:FOLD_AT], text[FOLD_AT:], cut)


@dataclass(frozen=True, slots=True)
class TextPart:
    text: Folded
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class JsonPart:
    text: Folded
    summary: str
    kind: Literal["json"] = "json"


Part = TextPart | JsonPart


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    id: str | None
    arguments: Part | None


@dataclass(slots=True)
class Turn:
    role: str
    # A CSS-safe class for the role: one of KNOWN_ROLES, or "other".
    role_class: str
    name: str | None = None
    parts: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None


@dataclass(slots=True)
class Conversation:
    turns: list[Turn]
    # The rest of a request or completion object (model, tools, usage, …), when there is any.
    extra: JsonPart | None = None
    kind: Literal["conversation"] = "conversation"


Content = TextPart | JsonPart | Conversation


def from_stored(stored: str | None) -> Content | None:
    """Display parts of a stored JSON text (None when nothing was stored)."""
    if stored is None:
        return None
    try:
        value = orjson.loads(stored)
    except orjson.JSONDecodeError:
        return text_part(restore(stored))
    return from_value(restore(value))


def from_value(value: Any) -> Content:
    if isinstance(value, str):
        return text_part(value)
    conversation = _conversation(value)
    if conversation is not None:
        return conversation
    return json_part(value)


def text_part(text: str) -> TextPart:
    return TextPart(fold(text))


def json_part(value: Any) -> JsonPart:
    pretty = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return JsonPart(fold(pretty), _summary(value))


def _summary(value: Any) -> str:
    if isinstance(value, dict):
        return f"object · {len(value)} key{'' if len(value) == 1 else 's'}"
    if isinstance(value, list):
        return f"array · {len(value)} item{'' if len(value) == 1 else 's'}"
    if value is None:
        return "null"
    return type(value).__name__


def _is_message(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("role"), str)
        and any(key in value for key in ("content", "tool_calls", "parts", "function_call"))
    )


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_message(m) for m in value)


def _conversation(value: Any) -> Conversation | None:
    if _is_messages(value):
        return Conversation([_turn(m) for m in value])
    if not isinstance(value, dict):
        return None
    if _is_message(value):
        return Conversation([_turn(value)])
    if _is_messages(value.get("messages")):
        return Conversation([_turn(m) for m in value["messages"]], _extra(value, "messages"))
    choices = value.get("choices")
    if isinstance(choices, list) and choices:
        messages = [c.get("message") if isinstance(c, dict) else None for c in choices]
        if _is_messages(messages):
            turns = [_turn(m) for m in messages if isinstance(m, dict)]
            return Conversation(turns, _extra(value, "choices"))
    return None


def _extra(value: dict[str, Any], used: str) -> JsonPart | None:
    rest = {k: v for k, v in value.items() if k != used}
    return json_part(rest) if rest else None


def _turn(message: dict[str, Any]) -> Turn:
    role = message["role"]
    lowered = role.lower()
    role_class = "assistant" if lowered == "model" else lowered
    name = message.get("name")
    call_id = message.get("tool_call_id")
    turn = Turn(
        role=role,
        role_class=role_class if role_class in KNOWN_ROLES else "other",
        name=name if isinstance(name, str) else None,
        tool_call_id=call_id if isinstance(call_id, str) else None,
    )
    body = message.get("content", message.get("parts"))
    _add_content(turn, body)
    for call in message.get("tool_calls") or []:
        turn.tool_calls.append(_tool_call(call))
    if isinstance(message.get("function_call"), dict):
        turn.tool_calls.append(_tool_call({"function": message["function_call"]}))
    return turn


def _add_content(turn: Turn, body: Any) -> None:
    if body is None:
        return
    if isinstance(body, str):
        turn.parts.append(text_part(body))
        return
    if not isinstance(body, list):
        turn.parts.append(json_part(body))
        return
    for item in body:
        if isinstance(item, str):
            turn.parts.append(text_part(item))
        elif _is_text_block(item):
            turn.parts.append(text_part(item["text"]))
        elif isinstance(item, dict) and item.get("type") == "tool_use":
            turn.tool_calls.append(_tool_call(item))
        elif isinstance(item, dict) and item.get("type") == "tool_result":
            _add_content(turn, item.get("content"))
        else:
            turn.parts.append(json_part(item))


def _is_text_block(item: Any) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        return False
    return item.get("type") in TEXT_PART_TYPES or set(item) == {"text"}


def _tool_call(call: Any) -> ToolCall:
    """An OpenAI tool call (`function.arguments` as JSON text) or an Anthropic `tool_use`."""
    if not isinstance(call, dict):
        return ToolCall("tool call", None, json_part(call))
    function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
    name = function.get("name")
    call_id = call.get("id")
    raw = function.get("arguments", function.get("input"))
    return ToolCall(
        name=name if isinstance(name, str) else "tool call",
        id=call_id if isinstance(call_id, str) else None,
        arguments=_arguments(raw),
    )


def _arguments(raw: Any) -> Part | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return text_part(raw)
        return json_part(parsed) if isinstance(parsed, dict | list) else text_part(raw)
    return json_part(raw)
