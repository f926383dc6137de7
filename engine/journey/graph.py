"""Graph facts about a journey's steps: reachability, cycles, what must come before what."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

Graph = Mapping[str, tuple[str, ...]]
"""Step name to the names of the steps it can go to next."""


def reachable(graph: Graph, start: str) -> set[str]:
    """Return the steps reachable from ``start`` (including it)."""
    seen = {start} if start in graph else set()
    todo = list(seen)
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen and nxt in graph:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def reversed_graph(graph: Graph) -> dict[str, tuple[str, ...]]:
    """Return the graph with every edge turned around."""
    preds: dict[str, list[str]] = {name: [] for name in graph}
    for name, nexts in graph.items():
        for nxt in nexts:
            if nxt in preds:
                preds[nxt].append(name)
    return {name: tuple(p) for name, p in preds.items()}


def can_reach(graph: Graph, targets: Iterable[str]) -> set[str]:
    """Return the steps from which some target is reachable (targets included)."""
    back = reversed_graph(graph)
    seen = {t for t in targets if t in graph}
    todo = list(seen)
    while todo:
        for prev in back.get(todo.pop(), ()):
            if prev not in seen:
                seen.add(prev)
                todo.append(prev)
    return seen


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Return the strongly connected components (Kosaraju, iterative: no recursion limit)."""
    order: list[str] = []
    seen: set[str] = set()
    for root in graph:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(graph[root]))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child in graph and child not in seen:
                    seen.add(child)
                    stack.append((child, iter(graph[child])))
                    break
            else:
                stack.pop()
                order.append(node)
    back = reversed_graph(graph)
    assigned: set[str] = set()
    components: list[list[str]] = []
    for root in reversed(order):
        if root in assigned:
            continue
        component, todo = [], [root]
        assigned.add(root)
        while todo:
            node = todo.pop()
            component.append(node)
            for prev in back[node]:
                if prev not in assigned:
                    assigned.add(prev)
                    todo.append(prev)
        components.append(component)
    return components


def cycles_avoiding(graph: Graph, pauses: set[str]) -> list[list[str]]:
    """Return each cycle-bearing component left once the pausing steps are removed."""
    rest = {
        n: tuple(x for x in nexts if x not in pauses)
        for n, nexts in graph.items()
        if n not in pauses
    }
    return [
        component
        for component in strongly_connected(rest)
        if len(component) > 1 or component[0] in rest[component[0]]
    ]


def always_after(graph: Graph, start: str, marks: set[str]) -> set[str]:
    """Return the steps that every path from ``start`` reaches only after passing a mark.

    A forward "must" data-flow: a step qualifies when each predecessor either is a
    mark or qualifies itself. Solved as the greatest fixed point.
    """
    live = reachable(graph, start)
    back = reversed_graph(graph)
    after = {n: n != start for n in live}
    changed = True
    while changed:
        changed = False
        for node in live:
            if node == start:
                continue
            value = all(p in marks or after[p] for p in back[node] if p in live)
            if value != after[node]:
                after[node] = value
                changed = True
    return {n for n, v in after.items() if v}


def longest_delay(
    graph: Graph, start: str, delays: Mapping[str, timedelta | None]
) -> timedelta | None:
    """Return the longest total waiting time on any path from ``start``.

    None when it is unbounded or unknown: a reachable loop, a ``wait`` until a date,
    or a ``wait_for`` that never times out.
    """
    live = reachable(graph, start)
    sub = {n: tuple(x for x in graph[n] if x in live) for n in live}
    if cycles_avoiding(sub, set()) or any(delays.get(n) is None for n in live):
        return None
    memo: dict[str, timedelta] = {}
    # Kosaraju yields components sources-first; walk them sinks-first.
    for component in reversed(strongly_connected(sub)):
        node = component[0]
        own = delays[node] or timedelta(0)
        memo[node] = own + max((memo[x] for x in sub[node] if x in memo), default=timedelta(0))
    return memo.get(start)
