"""The observation tree of a trace, and the window of it that one response renders.

Parents come from `parent_observation_id`, but stored data is not always a tree:

* an observation whose parent is missing from the trace (not yet arrived, or in another
  trace), or is itself, sits at the root level and is marked as an orphan;
* parent ids may form a cycle (A → B → A), which no root reaches. The earliest observation of
  such a group is detached from its parent and becomes a root, which breaks the cycle, so
  every observation appears exactly once and every walk ends.

Siblings are ordered by start time, then id. Walks are iterative: a chain of thousands of
nested spans must not hit Python's recursion limit.

`window` picks the rows of one response, depth first, within a node budget and a depth
budget. Where it stops it leaves a `More` slot: "the children of `parent` after `after`",
which the children endpoint renders later with the same rules.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

# Key of the root level in `Tree.children`.
ROOT = ""


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    parent_id: str | None
    start: datetime


@dataclass(slots=True)
class Tree:
    children: dict[str, list[str]]
    depth: dict[str, int]
    # Effective parent: ROOT for roots, orphans and observations detached to break a cycle.
    parent: dict[str, str]
    descendants: dict[str, int]
    orphans: set[str] = field(default_factory=set)
    cycle_breaks: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.depth)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.depth

    def kids(self, node_id: str) -> list[str]:
        return self.children.get(node_id, [])

    def ancestors(self, node_id: str) -> list[str]:
        """Ancestors of a node, nearest first (empty for a root or an unknown id)."""
        chain: list[str] = []
        current = self.parent.get(node_id, ROOT)
        while current != ROOT:
            chain.append(current)
            current = self.parent[current]
        return chain


def build_tree(nodes: Iterable[Node]) -> Tree:
    by_id = {node.id: node for node in nodes}
    children: dict[str, list[str]] = {ROOT: []}
    parent: dict[str, str] = {}
    orphans: set[str] = set()
    for node in by_id.values():
        pid = node.parent_id
        if pid is None or pid == "":
            pid = ROOT
        elif pid == node.id or pid not in by_id:
            orphans.add(node.id)
            pid = ROOT
        parent[node.id] = pid
        children.setdefault(pid, []).append(node.id)

    def order(node_id: str) -> tuple[datetime, str]:
        node = by_id[node_id]
        return (node.start, node.id)

    for kids in children.values():
        kids.sort(key=order)
    depth: dict[str, int] = {}
    walked = _walk(children, children[ROOT], 0, depth)
    cycle_breaks: set[str] = set()
    if len(depth) < len(by_id):
        for node_id in sorted((i for i in by_id if i not in depth), key=order):
            if node_id in depth:
                continue  # reached from an earlier break
            children[parent[node_id]].remove(node_id)
            parent[node_id] = ROOT
            children[ROOT].append(node_id)
            cycle_breaks.add(node_id)
            walked += _walk(children, [node_id], 0, depth)
        children[ROOT].sort(key=order)
    return Tree(
        children=children,
        depth=depth,
        parent=parent,
        descendants=_count_descendants(children, walked),
        orphans=orphans,
        cycle_breaks=cycle_breaks,
    )


def _walk(
    children: dict[str, list[str]], start: list[str], level: int, depth: dict[str, int]
) -> list[str]:
    """Set the depth of every node below `start`; returns them parents first."""
    walked: list[str] = []
    stack = [(node_id, level) for node_id in start]
    while stack:
        node_id, d = stack.pop()
        depth[node_id] = d
        walked.append(node_id)
        stack.extend((kid, d + 1) for kid in children.get(node_id, ()))
    return walked


def _count_descendants(children: dict[str, list[str]], walked: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(walked, 0)
    # Children come after their parent in `walked`, so in reverse each count is final first.
    for node_id in reversed(walked):
        kids = children.get(node_id)
        if kids:
            counts[node_id] = len(kids) + sum(counts[kid] for kid in kids)
    return counts


@dataclass(frozen=True, slots=True)
class Row:
    """An observation to render, at its depth in the tree."""

    id: str
    depth: int


@dataclass(frozen=True, slots=True)
class More:
    """Children of `parent` not rendered yet: those after `after` (all of them when None)."""

    parent: str
    after: str | None
    remaining: int
    depth: int


Slot = Row | More


def window(
    tree: Tree,
    parent: str = ROOT,
    *,
    after: str | None = None,
    budget: int | None = None,
    max_depth: int | None = None,
    reveal: Collection[str] = (),
) -> list[Slot]:
    """Rows of `parent`'s subtree in display order, from the child after `after`.

    At most `budget` rows, and at most `max_depth` levels below `parent` (None: no limit).
    Nodes in `reveal` (the ancestors of a selected node) are opened whatever the depth.
    """
    kids = tree.kids(parent)
    start = kids.index(after) + 1 if after is not None and after in kids else 0
    base = 0 if parent == ROOT else tree.depth[parent] + 1
    left = budget if budget is not None else len(tree) + 1
    out: list[Slot] = []
    # (parent id, index of its next child to render, levels below the window's top)
    stack: list[tuple[str, int, int]] = [(parent, start, 0)]
    while stack:
        node, index, level = stack[-1]
        siblings = tree.kids(node)
        if index >= len(siblings):
            stack.pop()
            continue
        if left <= 0:
            previous = siblings[index - 1] if index > 0 else None
            out.append(More(node, previous, len(siblings) - index, base + level))
            stack.pop()
            continue
        child = siblings[index]
        stack[-1] = (node, index + 1, level)
        out.append(Row(child, base + level))
        left -= 1
        grandchildren = tree.kids(child)
        if not grandchildren:
            continue
        deep_enough = max_depth is not None and level + 1 >= max_depth
        if (deep_enough and child not in reveal) or left <= 0:
            out.append(More(child, None, len(grandchildren), base + level + 1))
        else:
            stack.append((child, 0, level + 1))
    return out
