"""The operators of the condition language over SQL values, with the predicate's semantics.

Each function mirrors its twin in ``engine.journey.predicates``: numbers compare as
numbers and never with booleans, ISO text compares as a time (by day when either
side is a bare date), other text compares by code point, and mismatched kinds
never match. Callers check that both sides are ``present`` first. Branches a
literal rules out are not even built, so a simple leaf stays simple SQL.
"""

from __future__ import annotations

import operator as op_
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import FromClause, Select, exists, func, literal, select

from engine.segments.values import (
    Bool,
    Dialect,
    Expr,
    ListValue,
    SqlValue,
    all_of,
    any_of,
    instant_of,
    known,
    negate,
    when,
)

Compare = Callable[[Any, Any], Any]


def _rows(rows: FromClause) -> Select[Any]:
    return select(literal(1)).select_from(rows)


def _guarded(guards: Bool, build: Callable[[], Bool]) -> Bool:
    """Return ``guards AND build()``, calling ``build`` only when the guards may hold."""
    if known(guards) is False:
        return guards
    return all_of(guards, build())


class Operators:
    """The comparisons of one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def equal(self, a: SqlValue, b: SqlValue) -> Bool:
        """Return ``_equal(a, b)``: same kind and same value (times as times, lists item-wise)."""
        both_times = all_of(a.time.valid, b.time.valid)
        parts = [
            _guarded(all_of(a.is_number, b.is_number), lambda: a.number == b.number),
            _guarded(
                all_of(a.is_bool, b.is_bool),
                lambda: any_of(all_of(a.truth, b.truth), all_of(negate(a.truth), negate(b.truth))),
            ),
            _guarded(both_times, lambda: self._time(a, b, op_.eq)),
            _guarded(all_of(a.is_text, b.is_text, negate(both_times)), lambda: a.text == b.text),
        ]
        if isinstance(b, ListValue) and known(a.is_array) is not False:
            items = [self.equal(a.item(i), item) for i, item in enumerate(b.items)]
            parts.append(all_of(a.is_array, a.length() == len(b.items), *items))
        return any_of(*parts)

    def ordered(self, a: SqlValue, b: SqlValue, compare: Compare) -> Bool:
        """Return ``_ordered`` then ``compare``: numbers, times, or text by code point."""
        both_like = all_of(a.time.like, b.time.like)
        return any_of(
            _guarded(all_of(a.is_number, b.is_number), lambda: compare(a.number, b.number)),
            _guarded(
                all_of(both_like, a.time.valid, b.time.valid), lambda: self._time(a, b, compare)
            ),
            _guarded(
                all_of(a.is_text, b.is_text, negate(both_like)),
                lambda: compare(self._binary(a.text), self._binary(b.text)),
            ),
        )

    def member(self, a: SqlValue, items: ListValue) -> Bool:
        """Return ``_member``: a list matches when any of its items equals any choice."""
        scalar = any_of(*(self.equal(a, item) for item in items.items))
        if known(a.is_array) is False:
            return scalar
        rows, element = a.elements()
        matches = any_of(*(self.equal(element, item) for item in items.items))
        in_list = _guarded(
            a.is_array, lambda: exists(_rows(rows).where(matches).correlate_except(rows))
        )
        return any_of(in_list, all_of(negate(a.is_array), scalar))

    def contains(self, a: SqlValue, b: SqlValue) -> Bool:
        """Return ``_contains``: a list item equal to ``b``, or ``b`` inside the text."""
        position = func.strpos if self.dialect == "postgresql" else func.instr
        parts = [_guarded(all_of(a.is_text, b.is_text), lambda: position(a.text, b.text) > 0)]
        if known(a.is_array) is not False:
            rows, element = a.elements()
            found = exists(_rows(rows).where(self.equal(element, b)).correlate_except(rows))
            parts.append(all_of(a.is_array, found))
        return any_of(*parts)

    def starts_with(self, a: SqlValue, b: SqlValue) -> Bool:
        """Return ``_starts_with`` on text (lengths in characters on both sides)."""
        return _guarded(
            all_of(a.is_text, b.is_text),
            lambda: func.substr(a.text, 1, func.length(b.text)) == b.text,
        )

    def timed(self, a: SqlValue, b: SqlValue, compare: Compare) -> Bool:
        """Return ``before``/``after``: both sides parse as times."""
        return _guarded(all_of(a.time.valid, b.time.valid), lambda: self._time(a, b, compare))

    def window(self, a: SqlValue, span: timedelta, now: datetime, *, past: bool) -> Bool:
        """Return ``within_last``/``within_next`` around ``now`` (bounds included)."""
        low, high = (now - span, now) if past else (now, now + span)

        def build() -> Bool:
            day = self._binary(a.time.day)
            by_day = all_of(day >= low.date().isoformat(), day <= high.date().isoformat())
            instant = a.time.instant
            by_instant = all_of(instant >= instant_of(low), instant <= instant_of(high))
            return when(a.time.date_only, by_day, by_instant)

        return _guarded(a.time.valid, build)

    def _time(self, a: SqlValue, b: SqlValue, compare: Compare) -> Bool:
        by_day = compare(self._binary(a.time.day), self._binary(b.time.day))
        date_only = any_of(a.time.date_only, b.time.date_only)
        if known(date_only) is True:
            return by_day  # type: ignore[no-any-return]
        return when(date_only, by_day, compare(a.time.instant, b.time.instant))

    def _binary(self, text: Expr) -> Expr:
        # Python orders text by code point; PostgreSQL's "C" collation is UTF-8 byte order,
        # which is the same. SQLite's default BINARY collation already is.
        return text.collate("C") if self.dialect == "postgresql" else text


ORDER: dict[str, Compare] = {"gt": op_.gt, "gte": op_.ge, "lt": op_.lt, "lte": op_.le}
TIME: dict[str, Compare] = {"before": op_.lt, "after": op_.gt}
