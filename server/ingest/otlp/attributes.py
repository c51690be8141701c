"""Helpers to read span attributes: take a value (and consume its key), decode JSON-in-strings,
and rebuild flattened lists such as `llm.input_messages.0.message.role`."""

from __future__ import annotations

from typing import Any

import orjson

# Flattened lists are rebuilt only up to this index: a key like `gen_ai.prompt.1000000.content`
# must not allocate a million-slot list.
MAX_INDEX = 1000


def take(attrs: dict[str, Any], *keys: str) -> Any:
    """The first non-empty value among keys; that key is consumed (removed from attrs)."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            del attrs[key]
            return value
    return None


def discard(attrs: dict[str, Any], *keys: str) -> None:
    for key in keys:
        attrs.pop(key, None)


def json_or_text(value: Any) -> Any:
    """Attribute values that hold JSON are decoded; other strings are kept as they are."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[", '"') or text in ("true", "false", "null"):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                return value
    return value


def json_encoded(value: Any) -> Any:
    """A value the Langfuse SDKs JSON-encode whatever its type (`"2"` is the number 2)."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def json_object(value: Any) -> dict[str, Any] | None:
    decoded = json_or_text(value)
    return decoded if isinstance(decoded, dict) else None


def take_prefixed(attrs: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Consume every `prefix<rest>` key; returns {rest: value}."""
    found = {key[len(prefix) :]: value for key, value in attrs.items() if key.startswith(prefix)}
    for rest in found:
        del attrs[prefix + rest]
    return found


def unflatten(flat: dict[str, Any]) -> Any:
    """{"0.message.role": "user", …} → [{"message": {"role": "user"}}, …] (bounded)."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        parts = path.split(".")
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        indices = sorted(int(k) for k in node if int(k) <= MAX_INDEX)
        return [_lists(node[str(i)]) for i in indices]
    return {k: _lists(v) for k, v in node.items()}


def as_tags(value: Any) -> list[str]:
    """Tags as an array, a JSON-array string, a comma-separated string or one string."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and str(v) != ""]
    decoded = json_or_text(value)
    if isinstance(decoded, list):
        return [str(v) for v in decoded]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
