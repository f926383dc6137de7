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
    order = _postorder(graph, graph)
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


def always_after(graph: Graph, start: str, marks: Iterable[str]) -> set[str]:
    """Return the steps that every path from ``start`` reaches only after passing a mark.

    The greatest fixed point of a forward "must" data-flow (a step qualifies when each
    predecessor either is a mark or qualifies itself; ``start`` never does). Its
    complement is what a walk from ``start`` that never leaves a mark reaches, so it
    is found in one linear pass.
    """
    live = reachable(graph, start)
    if not live:
        return set()
    stops = set(marks)
    unmarked = {start}
    todo = [start]
    while todo:
        node = todo.pop()
        if node in stops:
            continue  # what follows a mark has passed one on this path
        for nxt in graph[node]:
            if nxt not in unmarked and nxt in graph:
                unmarked.add(nxt)
                todo.append(nxt)
    return live - unmarked


def sends_before(graph: Graph, start: str, sends: Iterable[str]) -> dict[str, frozenset[str]]:
    """Return, for each step reachable from ``start``, the sends on EVERY path to it.

    A dominator-style "must" data-flow over the step graph, solved once for all sends:
    ``before(start)`` is empty and ``before(n)`` is the intersection, over n's
    reachable predecessors p, of ``before(p)`` plus p itself when p is a send. Sets
    are bit masks, swept in reverse postorder from the top until nothing changes (the
    greatest fixed point). A step is always preceded by send ``m`` exactly when ``m``
    is in its set, i.e. when it is in ``always_after(graph, start, {m})``.
    """
    if start not in graph:
        return {}
    order = _reverse_postorder(graph, start)
    index = {name: i for i, name in enumerate(order)}
    kept = [s for s in dict.fromkeys(sends) if s in index]
    bit = {name: 1 << i for i, name in enumerate(kept)}
    everything = (1 << len(kept)) - 1
    preds: list[list[int]] = [[] for _ in order]
    for name in order:
        for nxt in graph[name]:
            if nxt in index:
                preds[index[nxt]].append(index[name])
    gen = [bit.get(name, 0) for name in order]
    before = [everything] * len(order)
    before[0] = 0  # order[0] is start: nothing was sent before entering the journey
    changed = True
    while changed:
        changed = False
        for i in range(1, len(order)):
            value = everything
            for p in preds[i]:
                value &= before[p] | gen[p]
            if value != before[i]:
                before[i] = value
                changed = True
    return {name: frozenset(s for s in kept if before[i] & bit[s]) for i, name in enumerate(order)}


def _reverse_postorder(graph: Graph, start: str) -> list[str]:
    """Return the steps reachable from ``start`` in reverse postorder (``start`` first)."""
    post = _postorder(graph, [start])
    post.reverse()
    return post


def _postorder(graph: Graph, roots: Iterable[str]) -> list[str]:
    """Return the steps reachable from ``roots``, each after every step it leads to.

    Iterative, so a journey of thousands of steps cannot overflow the Python stack.
    """
    order: list[str] = []
    seen: set[str] = set()
    for root in roots:
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
    return order


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
