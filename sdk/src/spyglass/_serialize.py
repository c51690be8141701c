"""Turning arbitrary user objects into bounded JSON, without ever raising.

`snapshot(value)` runs on the caller's thread when a value is captured (arguments, return values,
metadata). It returns a fresh JSON-ready tree, so mutating an argument after the call cannot change
what was recorded. Immutable scalars are returned as they are, which keeps the common case (a few
ints and short strings) nearly free; containers and objects are copied, converted and truncated.
Turning the tree into bytes (`dumps`) happens later, on the transport's thread.

What becomes what:

* `str`, `int`, `float`, `bool`, `None`: as they are (strings over `MAX_STRING` characters cut);
* `dict` and other mappings: objects with string keys; `list`, `tuple`, `set`, `frozenset`,
  `deque`: arrays (sets sorted when their items allow it);
* pydantic models: `model_dump()`; dataclasses: their fields; enums: their value;
* `bytes`: the UTF-8 text when it decodes, otherwise `"<N bytes>"`;
* `datetime`, `date`, `time`: ISO 8601; `UUID`, `Decimal`, paths: `str()`;
* NaN and infinities: the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no such numbers);
* anything else: its `repr()`, cut to `MAX_REPR` characters. Iterators and generators are never
  consumed.

Limits keep one capture bounded: `MAX_DEPTH` levels, `MAX_ITEMS` items per container,
`MAX_NODES` values and `MAX_CHARS` characters of text in all. Whatever is cut is replaced by a marker string that starts with
`TRUNCATED`, and a reference cycle becomes `CYCLE`.
"""

from __future__ import annotations

import codecs
import datetime as dt
import enum
import json
import math
import sys
from collections import deque
from collections.abc import Mapping
from itertools import islice
from typing import Any

from spyglass import _guard

MAX_STRING = 100_000
MAX_REPR = 1_000
MAX_ITEMS = 1_000
MAX_DEPTH = 20
MAX_NODES = 20_000
MAX_CHARS = 500_000

TRUNCATED = "…[truncated"
CYCLE = "…[cycle]"

# Types recorded as str(). Only modules the app has imported can have made such values, so they
# are looked up in sys.modules rather than imported here (uuid alone costs milliseconds).
_STRINGIFIED = (("uuid", "UUID"), ("decimal", "Decimal"), ("pathlib", "PurePath"))


def _stringified() -> tuple[type, ...]:
    return tuple(
        getattr(sys.modules[module], name)
        for module, name in _STRINGIFIED
        if module in sys.modules and hasattr(sys.modules[module], name)
    )


_SCALARS = frozenset({int, bool, type(None)})
_SEQUENCES = (list, tuple, deque)
_SETS = (set, frozenset)


def snapshot(value: Any) -> Any:
    """A JSON-ready copy of `value` that later mutation cannot change. Never raises."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is str:
        return value if len(value) <= MAX_STRING else _cut(value)
    if kind is float:
        return value if math.isfinite(value) else _nonfinite(value)
    try:
        return _Converter().convert(value, 0)
    except Exception as exc:  # a hostile object: keep the call going, record a placeholder
        _guard.internal_error(exc, "serializing a captured value")
        return f"<unserializable {kind.__name__}>"


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON. Values are expected to be snapshots; anything else is converted.

    Uses `orjson` when it is installed (`pip install "spyglass[fast]"`): an order of magnitude
    faster, on the sender's thread. What orjson refuses (integers over 64 bits, non-string keys
    returned by a `mask`) goes through the standard library instead.
    """
    fast = _fast_dumps()
    if fast is not None:
        try:
            encoded: bytes = fast(value, default=_default)
            return encoded
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default
        ).encode()
    except ValueError:
        # A NaN that bypassed snapshot() (a float inside a caller-built dict, say).
        cleaned = _Converter().convert(value, 0)
        return json.dumps(
            cleaned, ensure_ascii=False, separators=(",", ":"), default=_default
        ).encode()


_orjson_dumps: Any = None
_orjson_checked = False


def _fast_dumps() -> Any:
    global _orjson_dumps, _orjson_checked
    if not _orjson_checked:
        try:
            import orjson

            _orjson_dumps = orjson.dumps
        except ImportError:
            _orjson_dumps = None
        _orjson_checked = True
    return _orjson_dumps


def _default(value: Any) -> Any:
    return _Converter().convert(value, 0)


def _cut(text: str, limit: int = MAX_STRING) -> str:
    return f"{text[:limit]}{TRUNCATED} {len(text) - limit} chars]"


def _nonfinite(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


class _Converter:
    """One conversion: a shared node budget and the ids of the containers being walked."""

    __slots__ = ("budget", "chars", "active")

    def __init__(self) -> None:
        self.budget = MAX_NODES
        self.chars = MAX_CHARS
        self.active: set[int] = set()

    def convert(self, value: Any, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            return f"{TRUNCATED}: size limit]"
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is str:
            return self._text(value)
        if kind is float:
            return value if math.isfinite(value) else _nonfinite(value)
        if depth >= MAX_DEPTH:
            return f"{TRUNCATED}: depth limit]"
        if isinstance(value, (dict, Mapping)):
            return self._container(value, depth, self._mapping)
        if isinstance(value, _SEQUENCES):
            return self._container(value, depth, self._sequence)
        if isinstance(value, _SETS):
            return self._container(value, depth, self._set)
        return self._other(value, depth)

    def _text(self, value: str) -> str:
        allowed = min(MAX_STRING, max(0, self.chars))
        self.chars -= len(value)
        return value if len(value) <= allowed else _cut(value, allowed)

    def _container(self, value: Any, depth: int, walk: Any) -> Any:
        marker = id(value)
        if marker in self.active:
            return CYCLE
        self.active.add(marker)
        try:
            return walk(value, depth + 1)
        finally:
            self.active.discard(marker)

    def _mapping(self, value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in islice(value.items(), MAX_ITEMS):
            out[key if type(key) is str else self._key(key)] = self.convert(item, depth)
        if len(value) > MAX_ITEMS:
            out[TRUNCATED + "]"] = f"{len(value) - MAX_ITEMS} more items"
        return out

    def _sequence(self, value: Any, depth: int) -> list[Any]:
        out = [self.convert(item, depth) for item in islice(value, MAX_ITEMS)]
        if len(value) > MAX_ITEMS:
            out.append(f"{TRUNCATED} {len(value) - MAX_ITEMS} more items]")
        return out

    def _set(self, value: set[Any] | frozenset[Any], depth: int) -> list[Any]:
        try:
            ordered: list[Any] = sorted(value)
        except TypeError:
            ordered = list(value)
        return self._sequence(ordered, depth)

    def _key(self, key: Any) -> str:
        if isinstance(key, enum.Enum):
            key = key.value
        if isinstance(key, (str, int, float, bool)) or key is None:
            return json.dumps(key) if not isinstance(key, str) else key
        return self._repr(key)

    def _other(self, value: Any, depth: int) -> Any:
        if isinstance(value, enum.Enum):
            return self.convert(value.value, depth)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return self.convert(float(value), depth)
        if isinstance(value, str):
            return self._text(str(value))
        if isinstance(value, (bytes, bytearray, memoryview)):
            return _bytes(value)
        if isinstance(value, (dt.datetime, dt.date, dt.time)):
            return value.isoformat()
        if isinstance(value, _stringified()):
            return str(value)
        if isinstance(value, dt.timedelta):
            return value.total_seconds()
        if isinstance(value, BaseException):
            return self._repr(value)
        if isinstance(value, type):
            return f"<class {value.__module__}.{value.__qualname__}>"
        return self._object(value, depth)

    def _object(self, value: Any, depth: int) -> Any:
        model_dump = getattr(type(value), "model_dump", None)
        if callable(model_dump):  # pydantic v2
            return self._container(value, depth, lambda v, d: self.convert(v.model_dump(), d))
        if hasattr(type(value), "__dataclass_fields__"):
            return self._container(value, depth, self._dataclass)
        tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
        if callable(tolist) and getattr(value, "size", MAX_ITEMS + 1) <= MAX_ITEMS:
            return self.convert(tolist(), depth)
        return self._repr(value)

    def _dataclass(self, value: Any, depth: int) -> dict[str, Any]:
        return {
            field.name: self.convert(getattr(value, field.name, None), depth)
            for field in _dataclass_fields(value)
        }

    def _repr(self, value: Any) -> str:
        try:
            text = repr(value)
        except Exception:
            return f"<unrepresentable {type(value).__name__}>"
        return text if len(text) <= MAX_REPR else _cut(text, MAX_REPR)


def _dataclass_fields(value: Any) -> Any:
    import dataclasses  # already imported by whoever made the dataclass: no cost here

    return dataclasses.fields(value)


def _bytes(value: bytes | bytearray | memoryview) -> str:
    size = value.nbytes if isinstance(value, memoryview) else len(value)
    head = bytes(value[:MAX_STRING])
    try:
        # Incremental, so that a multi-byte character split by the cut is not taken for binary.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=size <= MAX_STRING)
    except UnicodeDecodeError:
        return f"<{size} bytes>"
    if size <= MAX_STRING:
        return text
    return f"{text}{TRUNCATED} {size - len(head)} bytes]"
