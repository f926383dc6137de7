"""The one-pass send data-flow answers every email condition as the old per-condition pass did.

``_always_after_reference`` is the quadratic fixed point ``graph.always_after`` used to be,
called once per email condition; it is kept here as the oracle.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from bench.journey_validate import STEPS, journey_text
from engine.journey import load_journey, validate_journey
from engine.journey.conditions import EmailLeaf, iter_conditions
from engine.journey.flow_checks import check_graph
from engine.journey.graph import Graph, always_after, reachable, reversed_graph, sends_before
from engine.journey.spec import JourneySpec
from engine.journey.steps import SendEmailStep
from tests.engine.journey.support import INVALID, JOURNEYS


def _always_after_reference(graph: Graph, start: str, marks: set[str]) -> set[str]:
    """The old ``graph.always_after``: the greatest fixed point, swept until stable."""
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


def _graph(spec: JourneySpec) -> dict[str, tuple[str, ...]]:
    steps = spec.steps
    return {
        name: tuple(e.target for e in step.exits() if e.target is not None and e.target in steps)
        for name, step in steps.items()
    }


def _email_conditions(
    spec: JourneySpec,
) -> Iterator[tuple[str, tuple[object, ...], frozenset[str]]]:
    """Yield (step, path, marks) for each email condition, as the E404 check picks them."""
    sends = {n: s for n, s in spec.steps.items() if isinstance(s, SendEmailStep)}
    for name, step in spec.steps.items():
        for condition, sub, scope in step.conditions():
            for node, at, _ in iter_conditions(condition, ("steps", name, *sub), event_scope=scope):
                if not isinstance(node, EmailLeaf) or node.email == "unsubscribed":
                    continue
                if node.step_names:
                    marks = frozenset(n for n in node.step_names if n in sends)
                    if len(marks) != len(node.step_names):
                        continue
                elif node.template is not None:
                    marks = frozenset(
                        n for n, s in sends.items() if node.template in dict(s.templates())
                    )
                else:
                    marks = frozenset(sends)
                yield name, (*at, "email"), marks


def _specs() -> list[tuple[str, JourneySpec]]:
    paths = sorted(JOURNEYS.glob("*.yaml")) + sorted(
        p for p in INVALID.glob("*.yaml") if not p.name.endswith(".previous.yaml")
    )
    specs = []
    for path in paths:
        spec = load_journey(path.read_text(encoding="utf-8"), path.name).spec
        if spec is not None:
            specs.append((path.stem, spec))
    generated = load_journey(journey_text(), "bench.yaml").spec
    assert generated is not None and len(generated.steps) == STEPS
    specs.append(("generated-200", generated))
    return specs


SPECS = _specs()


def test_the_examples_and_the_generated_journey_are_covered() -> None:
    names = {name for name, _ in SPECS}
    assert {"abandoned-cart", "generated-200", "E404-email-before-send"} <= names
    assert sum(1 for _ in _email_conditions(dict(SPECS)["generated-200"])) == 66
    conditions = [c for _, spec in SPECS for c in _email_conditions(spec)]
    assert any(len(marks) > 1 for _, _, marks in conditions)  # "a or b", any send_email
    assert any(f.code == "E404" for f in check_graph(dict(SPECS)["E404-email-before-send"]))


@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[name for name, _ in SPECS])
def test_dataflow_matches_the_per_condition_fixed_point(name: str, spec: JourneySpec) -> None:
    graph = _graph(spec)
    sends = [n for n, s in spec.steps.items() if isinstance(s, SendEmailStep)]
    before = sends_before(graph, spec.start, sends)
    live = reachable(graph, spec.start)
    assert set(before) == live
    # Per send: "m precedes n on every path" is exactly n in the old always_after({m}).
    for mark in sends:
        expected = _always_after_reference(graph, spec.start, {mark})
        assert {n for n in live if mark in before[n]} == expected, mark
    # Per condition, including "a or b" and "any send_email" mark sets.
    old_e404, new_e404 = set(), set()
    for step, path, marks in _email_conditions(spec):
        if step not in live:
            continue
        reference = _always_after_reference(graph, spec.start, set(marks))
        assert always_after(graph, spec.start, marks) == reference
        if step not in reference:
            old_e404.add(path)
        if marks.isdisjoint(before[step]) and step not in always_after(graph, spec.start, marks):
            new_e404.add(path)
    assert new_e404 == old_e404
    found = {f.path for f in check_graph(spec) if f.code == "E404"}
    assert found == old_e404


def test_random_graphs_with_loops_agree() -> None:
    rng = random.Random(404)
    for _ in range(300):
        size = rng.randint(1, 14)
        names = [f"n{i}" for i in range(size)]
        graph = {
            n: tuple(rng.sample(names, rng.randint(0, min(3, size))))
            + (("gone",) * rng.randint(0, 1))
            for n in names
        }
        start = rng.choice(names)
        sends = rng.sample(names, rng.randint(0, size))
        before = sends_before(graph, start, sends)
        live = reachable(graph, start)
        assert set(before) == live
        for mark in sends:
            assert {n for n in live if mark in before[n]} == _always_after_reference(
                graph, start, {mark}
            )
        for _ in range(3):
            marks = set(rng.sample(names, rng.randint(0, size)))
            assert always_after(graph, start, marks) == _always_after_reference(graph, start, marks)
    assert sends_before({"a": ()}, "missing", ["a"]) == {}
    assert always_after({"a": ()}, "missing", {"a"}) == set()


def test_generated_journey_validates_clean() -> None:
    report = validate_journey(journey_text(), "bench.yaml")
    assert report.ok and report.spec is not None, report.format()
