"""One value as SQL sees it: which kind it holds at run time, and how to read it.

A condition compares values whose type is only known per row (a JSON attribute
may hold text for one contact and a number for the next), so every value offers
a boolean per kind (``is_number``, ``is_text``...) and a reading per kind
(``number``, ``text``...). Literals from the condition answer the same questions
with constants, which SQLAlchemy folds away (``and_(false(), x)`` is ``false``).

ISO date text is recognised and parsed in SQL the way ``engine.journey.predicates``
does it in Python (its shape, then ``date``/``datetime.fromisoformat``): a value
that has the shape but is not a real date (``2024-02-30``) is "time-like" yet
not ``valid``, and compares like the predicate compares it.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    String,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import False_, True_
from sqlalchemy.sql.selectable import FromClause

Dialect = Literal["sqlite", "postgresql"]
Bool = ColumnElement[bool]
Expr = ColumnElement[Any]

# The predicate's ISO shape (engine/journey/predicates.py `_ISO`), in each dialect's terms.
_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$", re.ASCII
)
_PG_ISO = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?"
_GLOB_DATE = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_GLOB_MINUTE = _GLOB_DATE + "[T ][0-9][0-9]:[0-9][0-9]"
_GLOB_SECOND = _GLOB_MINUTE + ":[0-9][0-9]"
_MICROS = 1_000_000


def constant(value: bool) -> Bool:
    """Return SQL ``true`` or ``false``, which ``and_``/``or_`` fold away."""
    return true() if value else false()


def known(expression: Bool) -> bool | None:
    """Return the constant a boolean expression folds to, or None when it depends on the row."""
    if isinstance(expression, True_):
        return True
    if isinstance(expression, False_):
        return False
    return None


def all_of(*parts: Bool) -> Bool:
    """Return the parts joined by AND, folding constants (SQLAlchemy's own folding hides them)."""
    kept: list[Bool] = []
    for part in parts:
        fixed = known(part)
        if fixed is False:
            return false()
        if fixed is None:
            kept.append(part)
    if not kept:
        return true()
    return kept[0] if len(kept) == 1 else and_(*kept)


def any_of(*parts: Bool) -> Bool:
    """Return the parts joined by OR, folding constants."""
    kept: list[Bool] = []
    for part in parts:
        fixed = known(part)
        if fixed is True:
            return true()
        if fixed is None:
            kept.append(part)
    if not kept:
        return false()
    return kept[0] if len(kept) == 1 else or_(*kept)


def negate(part: Bool) -> Bool:
    """Return NOT part, folding constants."""
    fixed = known(part)
    return constant(not fixed) if fixed is not None else not_(part)


def when(condition: Bool, then: Expr, otherwise: Expr) -> Expr:
    """Return ``CASE WHEN condition THEN … ELSE … END``, decided here when it is a constant."""
    fixed = known(condition)
    if fixed is not None:
        return then if fixed else otherwise
    return case((condition, then), else_=otherwise)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Count days on a proleptic Gregorian scale (the scale ``instant`` is built on)."""
    shifted = year - (1 if month <= 2 else 0)
    march_based = (month + 9) % 12
    return (
        365 * shifted
        + shifted // 4
        - shifted // 100
        + shifted // 400
        + (153 * march_based + 2) // 5
        + day
        - 1
    )


def _sql_days_from_civil(year: Expr, month: Expr, day: Expr) -> Expr:
    # The same sums in SQL; every term is non-negative for years >= 1, so SQL's truncating
    # integer division agrees with Python's floor division.
    shifted = year - case((month <= 2, 1), else_=0)
    march_based = (month + 9) % 12
    return (
        365 * shifted
        + shifted // 4
        - shifted // 100
        + shifted // 400
        + (153 * march_based + 2) // 5
        + day
        - 1
    )


@dataclass(frozen=True, slots=True)
class TimeParts:
    """A value read as a date or date-time.

    ``like`` is the predicate's "time-like" (ISO shape, or a datetime column);
    ``valid`` that it also parses; ``date_only`` that it is a bare date. ``day`` is
    the written ``YYYY-MM-DD`` and ``instant`` microseconds (UTC) on a fixed scale;
    both only mean something when ``valid``.
    """

    like: Bool
    valid: Bool
    date_only: Bool
    day: Expr
    instant: Expr


NO_TIME = TimeParts(false(), false(), false(), null(), null())


def python_time(value: Any) -> TimeParts:
    """Read a literal as the predicate reads it (ISO text, ``date`` or ``datetime``)."""
    if isinstance(value, datetime):
        return _moment_parts(value)
    if isinstance(value, date):
        return TimeParts(true(), true(), true(), literal(value.isoformat(), String), null())
    if not isinstance(value, str) or not _ISO.match(value):
        return NO_TIME
    try:
        if len(value) == 10:
            parsed: date = date.fromisoformat(value)
        else:
            parsed = datetime.fromisoformat(value)
    except ValueError:
        return TimeParts(true(), false(), false(), null(), null())
    if isinstance(parsed, datetime):
        return _moment_parts(parsed)
    return TimeParts(true(), true(), true(), literal(parsed.isoformat(), String), null())


def instant_of(moment: datetime) -> int:
    """Return ``moment`` on the ``instant`` scale (naive means UTC)."""
    offset = moment.utcoffset()
    seconds = (
        days_from_civil(moment.year, moment.month, moment.day) * 86400
        + moment.hour * 3600
        + moment.minute * 60
        + moment.second
        - (int(offset.total_seconds()) if offset is not None else 0)
    )
    return int(seconds * _MICROS + moment.microsecond)


def _moment_parts(moment: datetime) -> TimeParts:
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return TimeParts(
        true(),
        true(),
        false(),
        literal(moment.date().isoformat(), String),
        literal(instant_of(moment), BigInteger),
    )


def sql_time(text: Expr, dialect: Dialect) -> TimeParts:
    """Read SQL text as the predicate reads ISO text; casts run only on well-shaped text."""
    length = func.length(text)
    if dialect == "postgresql":
        shaped: Bool = text.op("~", is_comparison=True)(literal(_PG_ISO + "$", String))
        like: Bool = text.op("~", is_comparison=True)(literal(_PG_ISO + "\n?$", String))
        zone = case(
            (text.op("~", is_comparison=True)(literal("Z$", String)), 1),
            (text.op("~", is_comparison=True)(literal("[+-][0-9]{2}:[0-9]{2}$", String)), 6),
            (text.op("~", is_comparison=True)(literal("[+-][0-9]{4}$", String)), 5),
            else_=0,
        )
    else:
        zone = case(
            (_glob(text, "*Z"), 1),
            (_glob(text, "*[+-][0-9][0-9]:[0-9][0-9]"), 6),
            (_glob(text, "*[+-][0-9][0-9][0-9][0-9]"), 5),
            else_=0,
        )
        shaped = _sqlite_shaped(text, zone)
        # Python's `$` also matches before one trailing newline: such text is time-like.
        trimmed = func.substr(text, 1, length - 1)
        trimmed_zone = case(
            (_glob(trimmed, "*Z"), 1),
            (_glob(trimmed, "*[+-][0-9][0-9]:[0-9][0-9]"), 6),
            (_glob(trimmed, "*[+-][0-9][0-9][0-9][0-9]"), 5),
            else_=0,
        )
        like = or_(shaped, and_(_glob(text, "*\n"), _sqlite_shaped(trimmed, trimmed_zone)))

    def part(start: Any, size: Any) -> Expr:
        return cast(func.substr(text, start, size), BigInteger)

    body = length - zone
    year, month, day = part(1, 4), part(6, 2), part(9, 2)
    has_time = length > 10
    hour = case((has_time, part(12, 2)), else_=0)
    minute = case((has_time, part(15, 2)), else_=0)
    second = case((body >= 19, part(18, 2)), else_=0)
    fraction = func.substr(text, 21, body - 20).concat("000000")
    micros = case((body >= 21, cast(func.substr(fraction, 1, 6), BigInteger)), else_=0)
    sign = case((func.substr(text, length - zone + 1, 1) == "-", -1), else_=1)
    offset_minutes = case(
        (zone >= 5, part(length - zone + 2, 2) * 60 + part(length - 1, 2)), else_=0
    )
    leap = or_(and_(year % 4 == 0, year % 100 != 0), year % 400 == 0)
    month_days = case(
        (month == 2, case((leap, 29), else_=28)),
        (month.in_([4, 6, 9, 11]), 30),
        else_=31,
    )
    checks = and_(
        year >= 1,
        month >= 1,
        month <= 12,
        day >= 1,
        day <= month_days,
        hour <= 23,
        minute <= 59,
        second <= 59,
        offset_minutes < 1440,
    )
    valid: Bool = case((shaped, checks), else_=false())
    date_only: Bool = length == 10
    seconds = (
        _sql_days_from_civil(year, month, day) * 86400
        + hour * 3600
        + minute * 60
        + second
        - sign * offset_minutes * 60
    )
    instant = case((and_(valid, length > 10), seconds * _MICROS + micros), else_=null())
    return TimeParts(like, valid, date_only, func.substr(text, 1, 10), instant)


def _glob(text: Expr, pattern: str) -> Bool:
    return text.op("GLOB", is_comparison=True)(literal(pattern, String))


def _sqlite_shaped(text: Expr, zone: Expr) -> Bool:
    body = func.substr(text, 1, func.length(text) - zone)
    return or_(
        _glob(text, _GLOB_DATE),
        _glob(body, _GLOB_MINUTE),
        _glob(body, _GLOB_SECOND),
        and_(
            _glob(body, _GLOB_SECOND + ".[0-9]*"),
            not_(_glob(func.substr(body, 21), "*[^0-9]*")),
        ),
    )


class SqlValue(ABC):
    """A value a condition compares; every boolean is non-null whenever ``present`` holds."""

    @property
    @abstractmethod
    def present(self) -> Bool:
        """Whether the value is there and not null (the predicate's not-MISSING)."""

    @property
    def is_number(self) -> Bool:
        """Whether it is a number (never a boolean)."""
        return false()

    @property
    def number(self) -> Expr:
        """The number, when ``is_number``."""
        return null()

    @property
    def is_bool(self) -> Bool:
        """Whether it is true or false."""
        return false()

    @property
    def truth(self) -> Bool:
        """Whether it is ``true``, when ``is_bool``."""
        return false()

    @property
    def is_text(self) -> Bool:
        """Whether it is text."""
        return false()

    @property
    def text(self) -> Expr:
        """The text, when ``is_text`` (or the ISO text of a datetime column)."""
        return null()

    @property
    def is_array(self) -> Bool:
        """Whether it is a list."""
        return false()

    @property
    def time(self) -> TimeParts:
        """The value read as a date or date-time."""
        return NO_TIME

    def length(self) -> Expr:
        """Return how many items the list holds (only asked when ``is_array``)."""
        return null()

    def item(self, index: int) -> SqlValue:
        """Return the list item at ``index``."""
        raise NotImplementedError  # pragma: no cover

    def elements(self) -> tuple[FromClause, SqlValue]:
        """Return a FROM that yields one row per list item, and the item of that row."""
        raise NotImplementedError  # pragma: no cover


class LiteralValue(SqlValue):
    """A literal from the condition: its kind is known now."""

    def __init__(self, value: Any) -> None:
        self.value = value

    @property
    def present(self) -> Bool:
        return true()

    @property
    def is_number(self) -> Bool:
        return constant(_is_number(self.value))

    @property
    def number(self) -> Expr:
        if isinstance(self.value, int) and _is_number(self.value) and abs(self.value) < 2**63:
            return literal(self.value, BigInteger)
        return literal(float(self.value), Float) if _is_number(self.value) else null()

    @property
    def is_bool(self) -> Bool:
        return constant(isinstance(self.value, bool))

    @property
    def truth(self) -> Bool:
        return constant(self.value is True)

    @property
    def is_text(self) -> Bool:
        return constant(isinstance(self.value, str))

    @property
    def text(self) -> Expr:
        return literal(self.value, String) if isinstance(self.value, str) else null()

    @property
    def time(self) -> TimeParts:
        return python_time(self.value)


class ListValue(SqlValue):
    """A list operand (``in``, ``between``, ``eq: [a, b]``); items may be refs."""

    def __init__(self, items: Sequence[SqlValue]) -> None:
        self.items = tuple(items)

    @property
    def present(self) -> Bool:
        return all_of(*(item.present for item in self.items))

    @property
    def is_array(self) -> Bool:
        return true()

    def length(self) -> Expr:
        return literal(len(self.items))

    def item(self, index: int) -> SqlValue:
        return self.items[index]


class NumberValue(SqlValue):
    """A number SQL computes (an event count, a score); always present."""

    def __init__(self, expression: Expr) -> None:
        self.expression = expression

    @property
    def present(self) -> Bool:
        return true()

    @property
    def is_number(self) -> Bool:
        return true()

    @property
    def number(self) -> Expr:
        return self.expression


ColumnKind = Literal["text", "number", "datetime"]


class ColumnValue(SqlValue):
    """A typed column of ``contacts``; null means missing."""

    def __init__(self, column: Expr, kind: ColumnKind, dialect: Dialect) -> None:
        self.column, self.kind, self.dialect = column, kind, dialect

    @property
    def present(self) -> Bool:
        return self.column.is_not(None)

    @property
    def is_number(self) -> Bool:
        return self.present if self.kind == "number" else false()

    @property
    def number(self) -> Expr:
        return self.column if self.kind == "number" else null()

    @property
    def is_text(self) -> Bool:
        return self.present if self.kind == "text" else false()

    @property
    def text(self) -> Expr:
        return self.column if self.kind == "text" else null()

    @property
    def time(self) -> TimeParts:
        if self.kind == "text":
            return sql_time(self.column, self.dialect)
        if self.kind == "number":
            return NO_TIME
        iso: Expr
        if self.dialect == "postgresql":
            iso = func.to_char(
                func.timezone("UTC", self.column), literal("YYYY-MM-DD HH24:MI:SS.US", String)
            )
        else:
            # SQLite keeps these as naive UTC text with microseconds: already ISO.
            iso = type_coerce(self.column, String)
        parts = sql_time(iso, self.dialect)
        return TimeParts(self.present, self.present, false(), parts.day, parts.instant)


class SqliteJson(SqlValue):
    """A value inside a SQLite JSON document, named by a JSON path (text or SQL)."""

    def __init__(self, document: Expr, path: Expr) -> None:
        self.document, self.path = document, path

    @property
    def _type(self) -> Expr:
        return func.json_type(self.document, self.path)

    @property
    def present(self) -> Bool:
        return and_(self._type.is_not(None), self._type != "null")

    @property
    def is_number(self) -> Bool:
        return self._type.in_(["integer", "real"])

    @property
    def number(self) -> Expr:
        return func.json_extract(self.document, self.path)

    @property
    def is_bool(self) -> Bool:
        return self._type.in_(["true", "false"])

    @property
    def truth(self) -> Bool:
        return self._type == "true"

    @property
    def is_text(self) -> Bool:
        return self._type == "text"

    @property
    def text(self) -> Expr:
        return type_coerce(func.json_extract(self.document, self.path), String)

    @property
    def is_array(self) -> Bool:
        return self._type == "array"

    @property
    def time(self) -> TimeParts:
        parts = sql_time(self.text, "sqlite")
        return _only_text(parts, self.is_text)

    def length(self) -> Expr:
        return func.json_array_length(self.document, self.path)

    def item(self, index: int) -> SqlValue:
        return SqliteJson(self.document, self.path.concat(f"[{index}]"))

    def elements(self) -> tuple[FromClause, SqlValue]:
        rows = func.json_each(self.document, self.path).table_valued("fullkey").alias()
        return rows, SqliteJson(self.document, rows.c.fullkey)


class PostgresJson(SqlValue):
    """A ``jsonb`` value on PostgreSQL."""

    def __init__(self, value: Expr) -> None:
        self.value = value

    @property
    def _type(self) -> Expr:
        return func.jsonb_typeof(self.value)

    @property
    def present(self) -> Bool:
        return and_(self._type.is_not(None), self._type != "null")

    @property
    def _scalar_text(self) -> Expr:
        return self.value.op("#>>", return_type=String)(literal_column("'{}'"))

    @property
    def is_number(self) -> Bool:
        return self._type == "number"

    @property
    def number(self) -> Expr:
        return case((self.is_number, cast(self._scalar_text, Float)), else_=null())

    @property
    def is_bool(self) -> Bool:
        return self._type == "boolean"

    @property
    def truth(self) -> Bool:
        return and_(self.is_bool, self._scalar_text == "true")

    @property
    def is_text(self) -> Bool:
        return self._type == "string"

    @property
    def text(self) -> Expr:
        return case((self.is_text, self._scalar_text), else_=null())

    @property
    def is_array(self) -> Bool:
        return self._type == "array"

    @property
    def time(self) -> TimeParts:
        return _only_text(sql_time(self.text, "postgresql"), self.is_text)

    def length(self) -> Expr:
        return case((self.is_array, func.jsonb_array_length(self.value)), else_=null())

    def item(self, index: int) -> SqlValue:
        return PostgresJson(self.value.op("->", return_type=JSONB)(literal_column(str(index))))

    def elements(self) -> tuple[FromClause, SqlValue]:
        array = case((self.is_array, self.value), else_=cast(literal("[]"), JSONB))
        rows = func.jsonb_array_elements(array).table_valued(column("value", JSONB)).alias()
        return rows, PostgresJson(rows.c.value)


def _only_text(parts: TimeParts, is_text: Bool) -> TimeParts:
    # The shape tests run on text only; a number's text ("2024") never looks like a date
    # anyway, but guarding keeps every boolean non-null for present non-text values.
    return TimeParts(
        and_(is_text, parts.like),
        case((is_text, parts.valid), else_=false()),
        and_(is_text, parts.date_only),
        parts.day,
        parts.instant,
    )


def json_lookup(document: Expr, path: str, dialect: Dialect, *, walk: bool = True) -> SqlValue:
    """Return the value at a dotted path of a JSON document, as ``predicates.lookup`` finds it.

    A literal key that contains the dots wins over walking the parts; ``walk=False``
    looks only for that literal key (the walk would start at a scalar column).
    """
    parts = path.split(".")
    if dialect == "postgresql":
        doc = type_coerce(document, JSONB)
        literal_key = doc.op("->", return_type=JSONB)(literal(path, String))
        walked: Expr = doc
        for part in parts:
            # `-> text` never indexes an array, as Python's Mapping check never does.
            walked = walked.op("->", return_type=JSONB)(literal(part, String))
        if len(parts) == 1:
            return PostgresJson(walked)
        if not walk:
            return PostgresJson(literal_key)
        has_key = doc.op("?", is_comparison=True)(literal(path, String))
        return PostgresJson(case((has_key, literal_key), else_=walked))
    literal_path = _sqlite_key(document, [path])
    walked_path = _sqlite_key(document, parts)
    if len(parts) == 1:
        return SqliteJson(document, walked_path)
    if not walk:
        return SqliteJson(document, literal_path)
    has_key = func.json_type(document, literal_path).is_not(None)
    return SqliteJson(document, case((has_key, literal_path), else_=walked_path))


def _sqlite_key(document: Expr, parts: Sequence[str]) -> Expr:
    # SQLite (before 3.45) matches path keys against the key text as stored, escapes and all,
    # and json.dumps (SQLAlchemy's default serializer) stores non-ASCII keys as \uXXXX.
    plain = literal(_sqlite_path(parts), String)
    escaped = [json.dumps(part)[1:-1] for part in parts]
    if escaped == list(parts):
        return plain
    other = literal(_sqlite_path(escaped), String)
    return case((func.json_type(document, plain).is_not(None), plain), else_=other)


def _sqlite_path(parts: Sequence[str]) -> str:
    # Keys are AttrPath parts (letters, digits, _ and -), so quoting never needs escapes.
    return "$" + "".join(f'."{part}"' for part in parts)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
