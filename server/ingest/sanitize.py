"""Boundary hygiene for ingested text: parse hostile JSON without losing data.

PostgreSQL refuses NUL (U+0000) in text and JSONB, and UTF-8 cannot hold lone surrogates.
Rather than reject such data, strings are stored in a reversible form:

* U+E000 (a private-use character) is the escape: a stored "\ue000" is followed by "0" for an
  original NUL or "1" for an original U+E000. Every other character is stored as sent, so
  ordinary text (all of it, in practice) is untouched and costs nothing extra.
* Lone surrogates (which only a non-UTF-8 JSON encoder produces) become U+FFFD: they have
  no representation in a UTF-8 database at all.

`restore` undoes the escape on the way out (API responses, dashboard).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

ESCAPE = "\ue000"
_ESCAPE_UTF8 = ESCAPE.encode()
_RESTORE = re.compile("\ue000([01])")
# json.loads joins valid surrogate pairs, so any surrogate left in a str is a lone one.
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJSON(ValueError):
    pass


def parse_json(raw: bytes) -> Any:
    """Parse a request body, escaping NUL and U+E000 in every string (keys included)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson refuses lone surrogate escapes ("\ud800"); the stdlib parser keeps them.
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidJSON(str(exc)) from None
        return _walk(value, _clean)
    if _needs_escape(raw):
        return _walk(value, _clean)
    return value


def _needs_escape(raw: bytes) -> bool:
    return b"\\u0000" in raw or _ESCAPE_UTF8 in raw or b"\\ue000" in raw or b"\\uE000" in raw


def _clean(text: str) -> str:
    if ESCAPE in text:
        text = text.replace(ESCAPE, ESCAPE + "1")
    if "\x00" in text:
        text = text.replace("\x00", ESCAPE + "0")
    try:
        text.encode()
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def escape_text(text: str) -> str:
    """The stored form of one string (for query parameters compared with stored values)."""
    return _clean(text)


def restore(value: Any) -> Any:
    """Undo the stored form in any JSON-like value."""
    return _walk(value, _restore_text)


def restore_json_text(text: str) -> str:
    """Undo the stored form inside a JSON document kept as text, keeping it valid JSON."""
    if ESCAPE not in text:
        return text
    return orjson.dumps(restore(orjson.loads(text))).decode()


def contains_escape(data: bytes) -> bool:
    return _ESCAPE_UTF8 in data


def _restore_text(text: str) -> str:
    if ESCAPE not in text:
        return text
    return _RESTORE.sub(lambda m: "\x00" if m[1] == "0" else ESCAPE, text)


def _walk(value: Any, fix: Any) -> Any:
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, dict):
        return {fix(k): _walk(v, fix) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fix) for v in value]
    return value
