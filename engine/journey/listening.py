"""Which events concern a running enrollment, so the router wakes it at once, not at a sweep."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from engine.journey.conditions import AllOf, AnyOf, Condition, EventLeaf, NotOf
from engine.journey.spec import JourneySpec
from engine.journey.steps.wait_for import WaitForStep


def wake_events(spec: JourneySpec) -> frozenset[str]:
    """Event names that an ``exit_when``, a goal or a ``wait_for`` of ``spec`` looks at."""
    names = set(_event_names([*spec.exit_when, *(g.when for g in spec.goals)]))
    names.update(s.event for s in spec.steps.values() if isinstance(s, WaitForStep))
    return frozenset(names)


def _event_names(conditions: Iterable[Condition]) -> Iterator[str]:
    for condition in conditions:
        if isinstance(condition, EventLeaf):
            yield condition.event
        elif isinstance(condition, AllOf):
            yield from _event_names(condition.all)
        elif isinstance(condition, AnyOf):
            yield from _event_names(condition.any)
        elif isinstance(condition, NotOf):
            yield from _event_names([condition.not_])
