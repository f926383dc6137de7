"""Lay a journey out as a picture: steps as boxes in layers by distance from ``start``.

Pure: takes the step graph and per-step counts, returns coordinates the template draws as
inline SVG. A layered layout (breadth-first levels) reads top to bottom like the YAML's
intent; edges that go back up (loops) are drawn around the side so they do not cross boxes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Box size and gaps in SVG user units.
BOX_WIDTH = 210
BOX_HEIGHT = 92
GAP_X = 40
GAP_Y = 56
MARGIN = 24


@dataclass(frozen=True, slots=True)
class StepFigures:
    """One step's live counts; ``moved_on`` is entered minus those still here or exited here."""

    entered: int = 0
    waiting: int = 0
    active: int = 0
    exited: Mapping[str, int] = field(default_factory=dict)

    @property
    def exited_total(self) -> int:
        """Enrollments that ended on this step, whatever the reason."""
        return sum(self.exited.values())

    @property
    def moved_on(self) -> int:
        """Enrollments that went on to a next step (never negative, loops count visits)."""
        return max(0, self.entered - self.waiting - self.active - self.exited_total)


@dataclass(frozen=True, slots=True)
class StepNode:
    """A step as the canvas knows it: its id, kind and where it may go next (labelled)."""

    id: str
    kind: str
    exits: tuple[tuple[str, str], ...]
    """``(label, target)`` pairs; label is the exit's key in the YAML (next, then, else...)."""


@dataclass(frozen=True, slots=True)
class Box:
    """A step drawn at ``(x, y)``; ``level`` is its distance from ``start`` (-1: unreachable)."""

    id: str
    kind: str
    level: int
    x: int
    y: int
    width: int
    height: int
    figures: StepFigures


@dataclass(frozen=True, slots=True)
class Edge:
    """An arrow from one box to another as an SVG path, with its label's anchor."""

    source: str
    target: str
    label: str
    path: str
    label_x: int
    label_y: int
    back: bool


@dataclass(frozen=True, slots=True)
class Canvas:
    """Everything the template needs to draw the journey."""

    width: int
    height: int
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]


def levels(nodes: Sequence[StepNode], start: str) -> dict[str, int]:
    """Return each step's breadth-first distance from ``start``; unreachable steps get -1."""
    graph = {n.id: [t for _, t in n.exits] for n in nodes}
    level = {start: 0} if start in graph else {}
    frontier = list(level)
    while frontier:
        following: list[str] = []
        for step in frontier:
            for target in graph[step]:
                if target in graph and target not in level:
                    level[target] = level[step] + 1
                    following.append(target)
        frontier = following
    return {n.id: level.get(n.id, -1) for n in nodes}


def layout(nodes: Sequence[StepNode], start: str, figures: Mapping[str, StepFigures]) -> Canvas:
    """Place steps row by row (one row per level, unreachable ones last) and route the edges.

    Within a row, steps keep the order in which the breadth-first walk met them, which is
    the YAML's order of exits, so ``then`` sits left of ``else``.
    """
    depth = levels(nodes, start)
    order = _discovery_order(nodes, start)
    rows: dict[int, list[str]] = {}
    for step in order:
        rows.setdefault(depth[step], []).append(step)
    row_keys = sorted(k for k in rows if k >= 0) + ([-1] if -1 in rows else [])
    widest = max((len(rows[k]) for k in row_keys), default=0)
    inner_width = widest * BOX_WIDTH + max(0, widest - 1) * GAP_X
    width = inner_width + 2 * MARGIN + 2 * GAP_X  # room on both sides for loops
    kinds = {n.id: n.kind for n in nodes}
    boxes: dict[str, Box] = {}
    for row_index, key in enumerate(row_keys):
        steps = rows[key]
        row_width = len(steps) * BOX_WIDTH + (len(steps) - 1) * GAP_X
        left = MARGIN + GAP_X + (inner_width - row_width) // 2
        y = MARGIN + row_index * (BOX_HEIGHT + GAP_Y)
        for i, step in enumerate(steps):
            boxes[step] = Box(
                id=step,
                kind=kinds[step],
                level=key,
                x=left + i * (BOX_WIDTH + GAP_X),
                y=y,
                width=BOX_WIDTH,
                height=BOX_HEIGHT,
                figures=figures.get(step, StepFigures()),
            )
    height = MARGIN * 2 + len(row_keys) * BOX_HEIGHT + max(0, len(row_keys) - 1) * GAP_Y
    edges = tuple(
        _edge(boxes[n.id], boxes[target], label, width)
        for n in nodes
        for label, target in n.exits
        if target in boxes
    )
    return Canvas(
        width=width,
        height=height,
        boxes=tuple(boxes[s] for s in order),
        edges=edges,
    )


def _discovery_order(nodes: Sequence[StepNode], start: str) -> list[str]:
    graph = {n.id: [t for _, t in n.exits] for n in nodes}
    seen: list[str] = []
    known: set[str] = set()
    queue = [start] if start in graph else []
    known.update(queue)
    while queue:
        step = queue.pop(0)
        seen.append(step)
        for target in graph[step]:
            if target in graph and target not in known:
                known.add(target)
                queue.append(target)
    seen.extend(n.id for n in nodes if n.id not in known)
    return seen


def _edge(source: Box, target: Box, label: str, width: int) -> Edge:
    if target.y > source.y:
        x1, y1 = source.x + source.width // 2, source.y + source.height
        x2, y2 = target.x + target.width // 2, target.y
        middle = (y1 + y2) // 2
        path = f"M{x1},{y1} C{x1},{middle} {x2},{middle} {x2},{y2}"
        return Edge(source.id, target.id, label, path, (x1 + x2) // 2, middle, back=False)
    if target.y == source.y and target.x > source.x:
        x1, y1 = source.x + source.width, source.y + source.height // 2
        x2 = target.x
        path = f"M{x1},{y1} L{x2},{y1}"
        return Edge(source.id, target.id, label, path, (x1 + x2) // 2, y1 - 6, back=False)
    # A loop or a step back along the row: leave from the right and come round the outside.
    outside = width - MARGIN // 2
    x1, y1 = source.x + source.width, source.y + source.height // 2
    x2, y2 = target.x + target.width, target.y + target.height // 2 + 12
    path = f"M{x1},{y1} C{outside},{y1} {outside},{y2} {x2},{y2}"
    return Edge(source.id, target.id, label, path, outside - 8, (y1 + y2) // 2, back=True)
