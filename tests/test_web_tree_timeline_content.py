"""Unit tests of the trace page's pure parts: the tree, the waterfall geometry, the content."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from web import content, timeline
from web.tree import ROOT, More, Node, Row, build_tree, window

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def node(node_id: str, parent: str | None = None, start: float = 0.0) -> Node:
    return Node(node_id, parent, at(start))


class TestBuildTree:
    def test_children_are_ordered_by_start_then_id_with_depths(self) -> None:
        tree = build_tree(
            [
                node("c", "root", 2),
                node("b", "root", 1),
                node("a", "root", 2),
                node("root"),
                node("leaf", "c", 3),
            ]
        )
        assert tree.kids(ROOT) == ["root"]
        assert tree.kids("root") == ["b", "a", "c"]
        assert tree.depth == {"root": 0, "b": 1, "a": 1, "c": 1, "leaf": 2}
        assert tree.descendants["root"] == 4 and tree.descendants["c"] == 1
        assert tree.ancestors("leaf") == ["c", "root"]

    def test_an_observation_whose_parent_is_missing_is_a_root_marked_orphan(self) -> None:
        tree = build_tree([node("root"), node("lost", "gone", 1), node("kid", "lost", 2)])
        assert tree.kids(ROOT) == ["root", "lost"]
        assert tree.orphans == {"lost"}
        assert tree.depth["kid"] == 1

    def test_its_own_parent_is_an_orphan(self) -> None:
        tree = build_tree([node("self", "self")])
        assert tree.kids(ROOT) == ["self"] and tree.orphans == {"self"}

    def test_a_cycle_is_broken_at_its_earliest_member(self) -> None:
        tree = build_tree(
            [
                node("a", "c", 1),
                node("b", "a", 2),
                node("c", "b", 3),
                node("tail", "b", 4),
                node("x", "y", 5),
                node("y", "x", 6),
            ]
        )
        assert len(tree) == 6
        assert tree.kids(ROOT) == ["a", "x"]
        assert tree.cycle_breaks == {"a", "x"}
        assert tree.depth == {"a": 0, "b": 1, "c": 2, "tail": 2, "x": 0, "y": 1}
        assert tree.kids("c") == []
        rows = window(tree)
        assert sorted(r.id for r in rows if isinstance(r, Row)) == sorted(tree.depth)

    def test_a_chain_deeper_than_the_recursion_limit_is_fine(self) -> None:
        count = 5000
        tree = build_tree([node(f"n{i}", f"n{i - 1}" if i else None, i) for i in range(count)])
        assert tree.depth[f"n{count - 1}"] == count - 1
        assert tree.descendants["n0"] == count - 1
        assert len(window(tree)) == count

    def test_an_empty_trace_has_an_empty_tree(self) -> None:
        tree = build_tree([])
        assert len(tree) == 0 and window(tree) == []


class TestWindow:
    def wide(self, children: int) -> list[Node]:
        return [node("root")] + [node(f"k{i:03d}", "root", i + 1) for i in range(children)]

    def test_without_limits_every_row_comes_in_display_order(self) -> None:
        tree = build_tree([node("r"), node("a", "r", 1), node("a1", "a", 2), node("b", "r", 3)])
        assert window(tree) == [Row("r", 0), Row("a", 1), Row("a1", 2), Row("b", 1)]

    def test_the_budget_stops_with_a_more_slot_after_the_last_sibling(self) -> None:
        tree = build_tree(self.wide(10))
        slots = window(tree, budget=4)
        assert slots == [
            Row("root", 0),
            Row("k000", 1),
            Row("k001", 1),
            Row("k002", 1),
            More("root", "k002", 7, 1),
        ]

    def test_continuing_after_a_sibling_picks_up_where_the_last_window_stopped(self) -> None:
        tree = build_tree(self.wide(10))
        slots = window(tree, "root", after="k002", budget=5)
        assert [s.id for s in slots if isinstance(s, Row)] == [
            "k003",
            "k004",
            "k005",
            "k006",
            "k007",
        ]
        assert slots[-1] == More("root", "k007", 2, 1)
        assert window(tree, "root", after="k007", budget=5) == [Row("k008", 1), Row("k009", 1)]

    def test_an_unknown_cursor_starts_from_the_first_child(self) -> None:
        tree = build_tree(self.wide(2))
        assert window(tree, "root", after="gone") == [Row("k000", 1), Row("k001", 1)]

    def test_the_depth_budget_folds_deeper_children(self) -> None:
        tree = build_tree(
            [node("r"), node("a", "r", 1), node("b", "a", 2), node("c", "b", 3), node("d", "b", 4)]
        )
        assert window(tree, max_depth=2) == [Row("r", 0), Row("a", 1), More("a", None, 1, 2)]
        # Opening "a" later: its subtree, at its real depth.
        assert window(tree, "a", max_depth=2) == [Row("b", 2), Row("c", 3), Row("d", 3)]

    def test_revealed_nodes_open_past_the_depth_budget(self) -> None:
        tree = build_tree([node("r"), node("a", "r", 1), node("b", "a", 2), node("c", "b", 3)])
        slots = window(tree, max_depth=1, reveal={"r", "a", "b"})
        assert slots == [Row("r", 0), Row("a", 1), Row("b", 2), Row("c", 3)]

    def test_when_the_budget_runs_out_deep_every_level_gets_its_more_slot(self) -> None:
        tree = build_tree(
            [node("r1"), node("a", "r1", 1), node("a1", "a", 2), node("a2", "a", 3)]
            + [node("b", "r1", 4), node("r2", None, 5)]
        )
        slots = window(tree, budget=3)
        assert slots == [
            Row("r1", 0),
            Row("a", 1),
            Row("a1", 2),
            More("a", "a1", 1, 2),
            More("r1", "a", 1, 1),
            More(ROOT, "r1", 1, 0),
        ]

    def test_a_node_reached_with_no_budget_left_gets_a_children_slot(self) -> None:
        tree = build_tree([node("r"), node("a", "r", 1)])
        assert window(tree, budget=1) == [Row("r", 0), More("r", None, 1, 1)]


class TestBars:
    span = timeline.Span(T0, at(10))

    def test_offset_and_width_are_percentages_of_the_span(self) -> None:
        bar = timeline.bar(self.span, at(2), at(4))
        assert (bar.offset_pct, bar.width_pct, bar.open_ended) == (20.0, 20.0, False)
        assert bar.style == "left:20.000%;width:20.000%"

    def test_an_instant_keeps_the_minimum_width_and_stays_inside(self) -> None:
        assert timeline.bar(self.span, at(5), at(5)).width_pct == timeline.MIN_WIDTH_PCT
        last = timeline.bar(self.span, at(10), at(10))
        assert last.offset_pct + last.width_pct == pytest.approx(100.0)

    def test_without_an_end_the_bar_runs_open_to_the_end_of_the_span(self) -> None:
        bar = timeline.bar(self.span, at(6), None)
        assert (bar.offset_pct, bar.width_pct, bar.open_ended) == (60.0, 40.0, True)

    def test_time_to_first_token_is_marked_on_the_same_axis(self) -> None:
        assert timeline.bar(self.span, at(5), at(10), at(6)).ttft_pct == pytest.approx(60.0)
        assert timeline.bar(self.span, at(5), at(10), at(11)).ttft_pct is None
        assert timeline.bar(self.span, at(5), at(10), at(4)).ttft_pct is None

    def test_a_zero_duration_trace_puts_everything_at_the_start(self) -> None:
        span = timeline.trace_span([(T0, T0), (T0, None)])
        assert span is not None and span.ms == 0
        bar = timeline.bar(span, T0, T0, T0)
        assert (bar.offset_pct, bar.width_pct, bar.ttft_pct) == (0.0, timeline.MIN_WIDTH_PCT, None)
        assert timeline.ticks(span) == [timeline.Tick(0.0, 0.0)]

    def test_the_span_covers_starts_and_ends_and_ignores_ends_before_starts(self) -> None:
        span = timeline.trace_span([(at(3), at(4)), (at(1), None), (at(5), at(2))])
        assert span == timeline.Span(at(1), at(5))
        assert timeline.trace_span([]) is None

    def test_ticks_divide_the_span_evenly(self) -> None:
        assert [t.ms for t in timeline.ticks(self.span, 4)] == [0, 2500, 5000, 7500, 10000]

    @pytest.mark.parametrize(
        ("ms", "label"),
        [
            (0, "0"),
            (0.25, "0.25ms"),
            (250, "250ms"),
            (1550, "1.55s"),
            (10_000, "10s"),
            (225_000, "3m45s"),
            (900_000, "15m"),
            (5_400_000, "1h30m"),
        ],
    )
    def test_axis_labels_are_short(self, ms: float, label: str) -> None:
        assert timeline.axis_label(ms) == label


def stored(value: object) -> str:
    return json.dumps(value)


class TestContent:
    def test_nothing_stored_is_none(self) -> None:
        assert content.from_stored(None) is None

    def test_a_string_is_text(self) -> None:
        part = content.from_stored(stored("hello"))
        assert isinstance(part, content.TextPart) and part.text.head == "hello"

    def test_invalid_json_is_shown_as_it_was_stored(self) -> None:
        part = content.from_stored("{oops <b>")
        assert isinstance(part, content.TextPart) and part.text.head == "{oops <b>"

    def test_other_json_is_pretty_printed_with_a_summary(self) -> None:
        part = content.from_stored(stored({"a": [1, 2], "b": None}))
        assert isinstance(part, content.JsonPart)
        assert part.summary == "object · 2 keys"
        assert part.text.head == json.dumps({"a": [1, 2], "b": None}, indent=2)
        null = content.from_stored("null")
        assert isinstance(null, content.JsonPart) and null.text.head == "null"

    def test_long_text_is_folded_after_1500_characters(self) -> None:
        text = "x" * 4000
        part = content.from_stored(stored(text))
        assert isinstance(part, content.TextPart)
        assert len(part.text.head) == content.FOLD_AT and part.text.rest_chars == 2500
        short = content.fold("y" * (content.FOLD_AT + 10))
        assert not short.folded

    def test_a_huge_payload_is_cut(self) -> None:
        folded = content.fold("z" * (content.MAX_CHARS + 5))
        assert folded.cut == 5 and len(folded.head) + folded.rest_chars == content.MAX_CHARS

    def test_stored_escapes_are_restored(self) -> None:
        part = content.from_stored(stored("a\ue0000b"))
        assert isinstance(part, content.TextPart) and part.text.head == "a\x00b"

    def test_a_message_list_becomes_turns_with_roles(self) -> None:
        convo = content.from_value(
            [
                {"role": "system", "content": "rules"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": "u"}},
                    ],
                },
                {"role": "Critic", "content": "hmm", "name": "bob"},
            ]
        )
        assert isinstance(convo, content.Conversation)
        assert [(t.role, t.role_class) for t in convo.turns] == [
            ("system", "system"),
            ("user", "user"),
            ("Critic", "other"),
        ]
        user = convo.turns[1]
        assert isinstance(user.parts[0], content.TextPart) and user.parts[0].text.head == "hi"
        assert isinstance(user.parts[1], content.JsonPart)
        assert convo.turns[2].name == "bob"

    def test_openai_tool_calls_parse_their_arguments(self) -> None:
        convo = content.from_value(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "function": {"name": "f", "arguments": '{"x": 1}'}},
                    {"id": "c2", "function": {"name": "g", "arguments": "not json"}},
                ],
            }
        )
        assert isinstance(convo, content.Conversation)
        (turn,) = convo.turns
        assert turn.parts == []
        first, second = turn.tool_calls
        assert (first.name, first.id) == ("f", "c1")
        assert isinstance(first.arguments, content.JsonPart)
        assert isinstance(second.arguments, content.TextPart)
        assert second.arguments.text.head == "not json"

    def test_anthropic_blocks_become_text_and_tool_calls(self) -> None:
        convo = content.from_value(
            [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "let me look"},
                        {"type": "tool_use", "id": "t1", "name": "search", "input": {"q": "x"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "found"}],
                },
            ]
        )
        assert isinstance(convo, content.Conversation)
        assistant, user = convo.turns
        assert [p.text.head for p in assistant.parts] == ["let me look"]
        assert assistant.tool_calls[0].name == "search"
        assert [p.text.head for p in user.parts] == ["found"]

    def test_a_request_with_messages_keeps_its_other_fields(self) -> None:
        convo = content.from_value({"model": "m", "messages": [{"role": "user", "content": "q"}]})
        assert isinstance(convo, content.Conversation)
        assert convo.turns[0].role == "user"
        assert convo.extra is not None and '"model": "m"' in convo.extra.text.head

    def test_a_completion_with_choices_shows_the_messages(self) -> None:
        convo = content.from_value(
            {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "a"}}]}
        )
        assert isinstance(convo, content.Conversation)
        assert [t.role for t in convo.turns] == ["assistant"]

    def test_dicts_that_only_look_like_messages_stay_json(self) -> None:
        assert isinstance(content.from_value({"role": "admin"}), content.JsonPart)
        assert isinstance(
            content.from_value([{"role": "user", "content": "a"}, 3]), content.JsonPart
        )
        assert isinstance(content.from_value([]), content.JsonPart)
