"""Captured values become bounded JSON without ever raising."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import uuid
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest

from spyglass import _serialize
from spyglass._serialize import (
    CYCLE,
    MAX_CHARS,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_STRING,
    TRUNCATED,
    dumps,
    snapshot,
)


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


class Message(pydantic.BaseModel):
    role: str
    content: str
    sent: dt.datetime


def roundtrip(value: Any) -> Any:
    return json.loads(dumps(snapshot(value)))


class TestScalarsAndContainers:
    def test_scalars_are_kept_as_they_are(self) -> None:
        for value in (1, 2.5, True, None, "text"):
            assert snapshot(value) is value

    def test_containers_become_fresh_json_trees(self) -> None:
        original = {"a": [1, (2, 3)], "b": {"c": {4}}}
        copy = snapshot(original)
        assert copy == {"a": [1, [2, 3]], "b": {"c": [4]}}
        original["a"].append(99)  # type: ignore[attr-defined]
        assert copy["a"] == [1, [2, 3]]

    def test_sets_are_sorted_when_possible(self) -> None:
        assert snapshot({3, 1, 2}) == [1, 2, 3]
        assert sorted(map(str, snapshot({1, "a"}))) == ["1", "a"]

    def test_non_string_keys_become_strings(self) -> None:
        assert snapshot({1: "a", None: "b", (1, 2): "c", Color.RED: "d"}) == {
            "1": "a",
            "null": "b",
            "(1, 2)": "c",
            "red": "d",
        }

    def test_deque_and_tuple_become_lists(self) -> None:
        assert snapshot(deque([1, 2])) == [1, 2]
        assert snapshot((1, "a")) == [1, "a"]


class TestRichTypes:
    def test_pydantic_models_are_dumped(self) -> None:
        when = dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc)
        assert roundtrip(Message(role="user", content="hi", sent=when)) == {
            "role": "user",
            "content": "hi",
            "sent": "2024-05-01T12:00:00+00:00",
        }

    def test_dataclasses_become_objects(self) -> None:
        assert snapshot(Point(1, [2])) == {"x": 1, "y": [2]}

    def test_bytes_are_text_when_they_decode(self) -> None:
        assert snapshot(b"hello") == "hello"
        assert snapshot(bytearray(b"\xff\x00")) == "<2 bytes>"
        assert snapshot(memoryview(b"abc")) == "abc"

    def test_long_bytes_are_cut_without_breaking_a_character(self) -> None:
        data = ("é" * MAX_STRING).encode()
        text = snapshot(data)
        assert text.startswith("é") and TRUNCATED in text

    def test_dates_ids_and_numbers(self) -> None:
        assert snapshot(dt.date(2024, 1, 2)) == "2024-01-02"
        assert snapshot(dt.timedelta(seconds=1.5)) == 1.5
        assert snapshot(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
        assert snapshot(Decimal("1.10")) == "1.10"
        assert snapshot(Path("/tmp/x")) == "/tmp/x"
        assert snapshot(Color.RED) == "red"

    def test_non_finite_floats_become_strings(self) -> None:
        assert snapshot(math.nan) == "NaN"
        assert snapshot([math.inf, -math.inf]) == ["Infinity", "-Infinity"]
        # A NaN that skipped snapshot() still makes valid JSON (orjson writes null).
        assert json.loads(dumps({"raw": math.nan}))["raw"] in ("NaN", None)

    def test_exceptions_and_classes_are_described(self) -> None:
        assert snapshot(ValueError("bad")) == "ValueError('bad')"
        assert snapshot(Point).startswith("<class ")

    def test_iterators_are_not_consumed(self) -> None:
        numbers = iter([1, 2, 3])
        assert isinstance(snapshot(numbers), str)
        assert list(numbers) == [1, 2, 3]

    def test_unknown_objects_use_their_repr(self) -> None:
        class Thing:
            def __repr__(self) -> str:
                return "<thing>"

        assert snapshot(Thing()) == "<thing>"


class TestLimits:
    def test_a_cycle_becomes_a_marker(self) -> None:
        loop: list[Any] = [1]
        loop.append(loop)
        assert snapshot(loop) == [1, CYCLE]
        table: dict[str, Any] = {}
        table["self"] = table
        assert roundtrip(table) == {"self": CYCLE}

    def test_shared_objects_are_not_cycles(self) -> None:
        shared = [1]
        assert snapshot([shared, shared]) == [[1], [1]]

    def test_long_strings_are_cut_with_a_marker(self) -> None:
        text = snapshot("x" * (MAX_STRING + 10))
        assert text.startswith("x" * 100) and text.endswith(f"{TRUNCATED} 10 chars]")

    def test_long_containers_are_cut_with_a_marker(self) -> None:
        assert snapshot(list(range(MAX_ITEMS + 5)))[-1] == f"{TRUNCATED} 5 more items]"
        cut = snapshot({str(i): i for i in range(MAX_ITEMS + 5)})
        assert cut[TRUNCATED + "]"] == "5 more items"

    def test_deep_nesting_is_cut(self) -> None:
        value: Any = "leaf"
        for _ in range(MAX_DEPTH + 5):
            value = [value]
        text = json.dumps(snapshot(value))
        assert "depth limit" in text

    def test_huge_objects_are_bounded_in_total(self) -> None:
        huge = [[i] * 900 for i in range(900)]
        encoded = dumps(snapshot(huge))
        assert len(encoded) < 200_000
        assert b"size limit" in encoded

    def test_text_is_bounded_in_total(self) -> None:
        many = ["y" * 90_000 for _ in range(20)]
        encoded = dumps(snapshot(many))
        assert MAX_CHARS <= len(encoded) < MAX_CHARS + 10_000


class TestNeverRaises:
    def test_a_failing_repr(self) -> None:
        class Hostile:
            def __repr__(self) -> str:
                raise RuntimeError("no")

        assert snapshot(Hostile()) == "<unrepresentable Hostile>"

    def test_a_failing_model_dump_is_reported_not_raised(
        self, internal_errors: list[BaseException]
    ) -> None:
        class Broken:
            def model_dump(self) -> Any:
                raise RuntimeError("dump failed")

        assert snapshot(Broken()) == "<unserializable Broken>"
        assert [str(e) for e in internal_errors] == ["dump failed"]
        internal_errors.clear()

    def test_dumps_handles_what_skipped_snapshot(self) -> None:
        assert json.loads(dumps({"when": dt.date(2024, 1, 1), "big": 2**70})) == {
            "when": "2024-01-01",
            "big": 2**70,
        }

    @pytest.mark.parametrize("fast", [True, False])
    def test_dumps_with_and_without_orjson(
        self, fast: bool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if not fast:
            monkeypatch.setattr(_serialize, "_orjson_checked", True)
            monkeypatch.setattr(_serialize, "_orjson_dumps", None)
        value = {"text": "héllo", "n": [1, 2.5, None, True], "nested": {"k": "v"}}
        assert json.loads(dumps(value)) == value
