"""Which rules an event earns, and whether a rule's cap still allows another award.

Pure: events come in as plain records and earlier awards as their times, so the whole
decision is testable without a database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.scoring.spec import Cap, Match, Model, Rule


@dataclass(frozen=True, slots=True)
class ScoredEvent:
    """What scoring needs of one stored event."""

    id: int
    contact_id: int
    type: str
    properties: Mapping[str, Any]
    occurred_at: datetime
    email: str


@dataclass(frozen=True, slots=True)
class Award:
    """Points a rule gives a contact for one event."""

    contact_id: int
    event_id: int
    rule: str
    points: int
    reason: str
    occurred_at: datetime


def value_at(document: Mapping[str, Any], path: str) -> Any:
    """Return the value at a dotted path (``utm.source``), or None when any part is missing."""
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def passes(match: Match, value: Any) -> bool:
    """Say whether ``value`` passes every test ``match`` gives; a missing value passes none."""
    if value is None:
        return False
    checks: list[bool] = []
    if match.eq is not None:
        checks.append(_same(value, match.eq))
    if match.in_ is not None:
        checks.append(any(_same(value, item) for item in match.in_))
    if match.starts_with is not None:
        checks.append(isinstance(value, str) and value.startswith(match.starts_with))
    if match.contains is not None:
        checks.append(isinstance(value, str) and match.contains in value)
    if match.at_least is not None or match.below is not None:
        number = _number(value)
        checks.append(
            number is not None
            and (match.at_least is None or number >= match.at_least)
            and (match.below is None or number < match.below)
        )
    return all(checks)


def matches(rule: Rule, event: ScoredEvent) -> bool:
    """Say whether ``event`` earns ``rule``: its type, every ``where`` test, and the domain."""
    if event.type != rule.event:
        return False
    if rule.email_domain:
        domain = event.email.rpartition("@")[2].lower()
        if domain not in {d.lower() for d in rule.email_domain}:
            return False
    return all(passes(m, value_at(event.properties, path)) for path, m in rule.where.items())


def allowed(cap: Cap | None, earlier: Sequence[datetime], at: datetime) -> bool:
    """Say whether another award at ``at`` keeps within ``cap`` given the ``earlier`` awards."""
    if cap is None:
        return True
    return sum(1 for t in earlier if at - cap.per < t <= at) < cap.times


def award(
    model: Model,
    events: Iterable[ScoredEvent],
    earlier: Mapping[tuple[int, str], Sequence[datetime]],
) -> list[Award]:
    """Score ``events`` oldest first under ``model``'s rules and caps.

    ``earlier`` holds the times of awards already stored, by (contact, rule); awards made
    here count against the cap of the events after them.
    """
    given: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for key, times in earlier.items():
        given[key].extend(times)
    awards = []
    for event in sorted(events, key=lambda e: (e.occurred_at, e.id)):
        for rule in model.rules:
            key = (event.contact_id, rule.id)
            if not matches(rule, event) or not allowed(rule.cap, given[key], event.occurred_at):
                continue
            given[key].append(event.occurred_at)
            awards.append(
                Award(
                    event.contact_id,
                    event.id,
                    rule.id,
                    rule.points,
                    rule.reason or f"{event.type} ({rule.id})",
                    event.occurred_at,
                )
            )
    return awards


def _same(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    if isinstance(value, int | float) and isinstance(expected, int | float):
        return value == expected
    return str(value) == str(expected)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return None
    return None
