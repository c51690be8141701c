"""Token counts for generations that came without usage.

With the optional `tiktoken` package (`pip install 'spyglass-server[tokens]'`), OpenAI models
are counted exactly by their encoding. Otherwise — and for other providers, whose tokenizers
are not public — Spyglass estimates: one token per CJK/Hangul/Kana character (they rarely share
tokens) and one per four other characters, the usual rule of thumb for English text. Either way
the observation is marked `usage_estimated`.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

# Cap what is counted: a multi-megabyte input must not stall the writer.
MAX_CHARS = 200_000


def text_of(stored: str | None) -> str:
    """The human text in a stored (JSON text) input or output: string values, not keys."""
    if not stored:
        return ""
    try:
        value = json.loads(stored)
    except ValueError:
        return stored[:MAX_CHARS]
    parts: list[str] = []
    _collect(value, parts)
    return "\n".join(parts)[:MAX_CHARS]


def _collect(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, parts)
    elif isinstance(value, list):
        for item in value:
            _collect(item, parts)


def _is_dense(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # Hiragana, Katakana
        or 0x3400 <= code <= 0x9FFF  # CJK
        or 0xAC00 <= code <= 0xD7AF  # Hangul
        or 0xF900 <= code <= 0xFAFF
    )


def approximate(text: str) -> int:
    if not text:
        return 0
    dense = sum(1 for char in text if _is_dense(char))
    return dense + math.ceil((len(text) - dense) / 4)


@functools.cache
def _encoding(name: str) -> Any:
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        return tiktoken.get_encoding(name)
    except Exception:  # unknown encoding, or its file cannot be fetched offline
        return None


def count_tokens(text: str, tokenizer: str | None) -> int:
    if tokenizer and tokenizer.startswith("openai:"):
        encoding = _encoding(tokenizer.split(":", 1)[1])
        if encoding is not None:
            return len(encoding.encode(text, disallowed_special=()))
    return approximate(text)
