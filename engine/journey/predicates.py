"""Compile a condition once into a Python predicate over a ``ContactView`` and ``now``.

Semantics every backend (this one, and SQL previews later) must share:
a missing (or null) value makes every comparison false, ``exists`` tests
presence; ISO date or date-time text compares as a date (at day precision when
either side is a bare date); numbers compare as numbers, never with booleans;
mismatched types never match, and nothing here raises on odd data.
"""

from __future__ import annotations

import operator as op_
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from engine.journey.conditions import (
    AllOf,
    AnyOf,
    AttrLeaf,
    Condition,
    EmailLeaf,
    EntryLeaf,
    EventLeaf,
    ListLeaf,
    NotOf,
    Operators,
    PropLeaf,
    Ref,
    RfmLeaf,
    ScoreLeaf,
    SegmentLeaf,
    SubscribedLeaf,
    TagLeaf,
)
from engine.journey.contact_view import ContactView, EventRecord


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What a lookup returns for an absent or null value."""

# ASCII digits only: fromisoformat never parses full-width ones, so "２０２５-06-15" is text.
_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$", re.ASCII
)
_HUMAN_ONLY = frozenset({"opened", "clicked"})


class Predicate(Protocol):
    """A compiled condition; ``event`` is the event being matched, for ``prop`` leaves."""

    def __call__(
        self, contact: ContactView, now: datetime, event: EventRecord | None = None
    ) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Scope:
    contact: ContactView
    now: datetime
    event: EventRecord | None


_Test = Callable[[_Scope], bool]
_Getter = Callable[[_Scope], Any]


def compile_condition(condition: Condition) -> Predicate:
    """Compile ``condition`` once; call the result per contact with ``now`` (naive means UTC)."""
    test = _compile(condition)

    def predicate(contact: ContactView, now: datetime, event: EventRecord | None = None) -> bool:
        return test(_Scope(contact, _aware(now), event))

    return predicate


def compile_any(conditions: Sequence[Condition]) -> Predicate:
    """Compile a list that holds when any item holds (``exit_when``); empty never holds."""
    tests = [_compile(c) for c in conditions]

    def predicate(contact: ContactView, now: datetime, event: EventRecord | None = None) -> bool:
        scope = _Scope(contact, _aware(now), event)
        return any(t(scope) for t in tests)

    return predicate


def lookup(document: Mapping[str, Any], path: str) -> Any:
    """Return the value at a dotted path (a literal dotted key wins), or MISSING."""
    if path in document:
        value = document[path]
        return MISSING if value is None else value
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return MISSING if node is None else node


def _compile(condition: Condition) -> _Test:
    if isinstance(condition, AllOf):
        tests = [_compile(c) for c in condition.all]
        return lambda s: all(t(s) for t in tests)
    if isinstance(condition, AnyOf):
        tests = [_compile(c) for c in condition.any]
        return lambda s: any(t(s) for t in tests)
    if isinstance(condition, NotOf):
        inner = _compile(condition.not_)
        return lambda s: not inner(s)
    if isinstance(condition, AttrLeaf):
        attr = condition.attr
        return _value_test(lambda s: lookup(s.contact.attributes, attr), condition)
    if isinstance(condition, PropLeaf):
        prop = condition.prop
        return _value_test(
            lambda s: lookup(s.event.properties, prop) if s.event else MISSING, condition
        )
    if isinstance(condition, EntryLeaf):
        path = condition.entry
        return _value_test(lambda s: lookup(s.contact.entry, path), condition)
    if isinstance(condition, EventLeaf):
        return _event_test(condition)
    if isinstance(condition, EmailLeaf):
        return _email_test(condition)
    if isinstance(condition, SegmentLeaf):
        segment = condition.segment
        return lambda s: segment in s.contact.segments
    if isinstance(condition, TagLeaf):
        tag = condition.tag_
        return lambda s: tag in s.contact.tags
    if isinstance(condition, SubscribedLeaf):
        topic = condition.subscribed
        return lambda s: topic in s.contact.subscriptions
    if isinstance(condition, ScoreLeaf):
        model = condition.model
        # A contact nobody has scored yet stands at 0.
        return _value_test(lambda s: s.contact.scores.get(model, 0), condition.score)
    if isinstance(condition, ListLeaf):
        key = condition.list_
        return lambda s: key in s.contact.lists
    if isinstance(condition, RfmLeaf):
        classes = frozenset(condition.rfm)
        return lambda s: s.contact.rfm in classes
    raise TypeError(f"not a condition: {condition!r}")  # pragma: no cover


def _event_test(leaf: EventLeaf) -> _Test:
    name, within, since = leaf.event, leaf.within, leaf.since
    where = _compile(leaf.where) if leaf.where is not None else None
    count = _operand_test(leaf.count) if leaf.count is not None else None

    def test(s: _Scope) -> bool:
        entered = s.contact.entered_at
        if since == "entry" and entered is None:
            return False
        n = 0
        for event in s.contact.events:
            at = _aware(event.occurred_at)
            if event.name != name or at > s.now:
                continue
            if within is not None and at < s.now - within:
                continue
            if since == "entry" and entered is not None and at < _aware(entered):
                continue
            if where is not None and not where(_Scope(s.contact, s.now, event)):
                continue
            n += 1
        if count is None:
            return n >= 1
        return count(n, s)

    return test


def _email_test(leaf: EmailLeaf) -> _Test:
    activity, steps, template = leaf.email, frozenset(leaf.step_names), leaf.template
    within, human = leaf.within, leaf.human and leaf.email in _HUMAN_ONLY

    def test(s: _Scope) -> bool:
        for record in s.contact.emails:
            at = _aware(record.at)
            if record.activity != activity or at > s.now:
                continue
            if steps and record.step not in steps:
                continue
            if template is not None and record.template != template:
                continue
            if within is not None and at < s.now - within:
                continue
            if human and not record.human:
                continue
            return True
        return False

    return test


def _value_test(get: _Getter, leaf: Operators) -> _Test:
    check = _operand_test(leaf)
    return lambda s: check(get(s), s)


def _operand_test(leaf: Operators) -> Callable[[Any, _Scope], bool]:
    """Return a test of one value against the leaf's operator and operand."""
    name, operand = leaf.operator
    if name == "exists":
        wanted = bool(operand)
        return lambda value, s: (value is not MISSING) is wanted
    compare = _COMPARE[name]

    def test(value: Any, s: _Scope) -> bool:
        if value is MISSING:
            return False
        target = _resolve(operand, s)
        if target is MISSING:
            return False
        return compare(value, target, s.now)

    return test


def _resolve(operand: Any, s: _Scope) -> Any:
    if isinstance(operand, Ref):
        source = s.contact.entry if operand.scope == "entry" else s.contact.attributes
        return lookup(source, operand.path)
    if isinstance(operand, tuple):
        items = tuple(_resolve(item, s) for item in operand)
        return MISSING if any(i is MISSING for i in items) else items
    return operand


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_time(value: Any) -> date | datetime | None:
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO.match(value):
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return _aware(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _is_time_like(value: Any) -> bool:
    return isinstance(value, date) or (isinstance(value, str) and bool(_ISO.match(value)))


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _time_pair(a: Any, b: Any) -> tuple[Any, Any] | None:
    ta, tb = _as_time(a), _as_time(b)
    if ta is None or tb is None:
        return None
    if not isinstance(ta, datetime) or not isinstance(tb, datetime):
        return _day(ta), _day(tb)
    return ta, tb


def _ordered(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Return a comparable pair, or None when the values cannot be ordered."""
    if _is_number(a) and _is_number(b):
        return float(a), float(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if _is_time_like(a) and _is_time_like(b):
        return _time_pair(a, b)
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    return None


def _equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_time_like(a) and _is_time_like(b):
        pair = _time_pair(a, b)
        if pair is not None:
            return bool(pair[0] == pair[1])
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(type(a) is type(b) and a == b)


def _order_test(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any, datetime], bool]:
    def test(a: Any, b: Any, now: datetime) -> bool:
        pair = _ordered(a, b)
        return pair is not None and compare(pair[0], pair[1])

    return test


def _member(a: Any, b: Any, now: datetime) -> bool:
    if not isinstance(b, tuple):
        return False
    values = a if isinstance(a, list | tuple) else (a,)
    return any(_equal(x, y) for x in values for y in b)


def _not_member(a: Any, b: Any, now: datetime) -> bool:
    return isinstance(b, tuple) and not _member(a, b, now)


def _between(a: Any, b: Any, now: datetime) -> bool:
    low, high = b
    first, second = _ordered(a, low), _ordered(a, high)
    return (
        first is not None and second is not None and first[1] <= first[0] and second[0] <= second[1]
    )


def _contains(a: Any, b: Any, now: datetime) -> bool:
    if isinstance(a, list | tuple):
        return any(_equal(x, b) for x in a)
    return isinstance(a, str) and isinstance(b, str) and b in a


def _starts_with(a: Any, b: Any, now: datetime) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.startswith(b)


def _time_test(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any, datetime], bool]:
    def test(a: Any, b: Any, now: datetime) -> bool:
        pair = _time_pair(a, b)
        return pair is not None and compare(pair[0], pair[1])

    return test


def _window(past: bool) -> Callable[[Any, timedelta, datetime], bool]:
    def test(a: Any, span: timedelta, now: datetime) -> bool:
        moment = _as_time(a)
        if moment is None:
            return False
        low, high = (now - span, now) if past else (now, now + span)
        if not isinstance(moment, datetime):
            return _day(low) <= moment <= _day(high)
        return low <= moment <= high

    return test


_COMPARE: Mapping[str, Callable[[Any, Any, datetime], bool]] = {
    "eq": lambda a, b, now: _equal(a, b),
    "ne": lambda a, b, now: not _equal(a, b),
    "in": _member,
    "nin": _not_member,
    "gt": _order_test(op_.gt),
    "gte": _order_test(op_.ge),
    "lt": _order_test(op_.lt),
    "lte": _order_test(op_.le),
    "between": _between,
    "contains": _contains,
    "starts_with": _starts_with,
    "before": _time_test(op_.lt),
    "after": _time_test(op_.gt),
    "within_last": _window(past=True),
    "within_next": _window(past=False),
}
