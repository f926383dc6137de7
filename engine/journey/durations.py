"""Durations as marketers write them (``30s 15m 4h 2d 1w``), parsed to ``timedelta``.

Months and years are refused: their length varies, so "1 month" would mean a
different wait for each contact.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"^([+-]?)(\d{1,6})([smhdw])$")
_CALENDAR = re.compile(r"^[+-]?\d+\s*(mo|mon|mons|month|months|M|y|yr|yrs|year|years)$")
PATTERN = r"^\d{1,6}[smhdw]$"
SIGNED_PATTERN = r"^[+-]?\d{1,6}[smhdw]$"
NEVER = "never"


def parse_duration(text: str, *, signed: bool = False) -> timedelta:
    """Parse ``2d`` to two days; ``signed`` allows ``-30d``. Raises ValueError with the fix."""
    match = _DURATION.match(text.strip())
    if match is None:
        if _CALENDAR.match(text.strip()):
            raise ValueError(
                f"'{text}' uses months or years, which vary in length; write days or weeks (30d, 4w)"
            )
        raise ValueError(f"'{text}' is not a duration; write a number and one of s m h d w (2d)")
    sign, amount, unit = match.groups()
    if sign == "-" and not signed:
        raise ValueError(f"'{text}' is negative; only offsets may be negative")
    value = int(amount) * _UNITS[unit]
    return -value if sign == "-" else value


def format_duration(value: timedelta) -> str:
    """Render a timedelta in the largest unit that divides it exactly (``14d`` → ``2w``)."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    for unit in ("w", "d", "h", "m"):
        size = int(_UNITS[unit].total_seconds())
        if seconds and seconds % size == 0:
            return f"{sign}{seconds // size}{unit}"
    return f"{sign}{seconds}s"


def _coerce(value: Any, *, signed: bool) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "E106", "expected a duration such as 30s, 15m, 4h, 2d or 1w, got {got}", {"got": value}
        )
    try:
        return parse_duration(value, signed=signed)
    except ValueError as exc:
        raise PydanticCustomError("E106", str(exc)) from None


def _duration(value: Any) -> timedelta:
    return _coerce(value, signed=False)


def _signed_duration(value: Any) -> timedelta:
    return _coerce(value, signed=True)


def _duration_or_never(value: Any) -> timedelta | str:
    if value == NEVER:
        return NEVER
    return _coerce(value, signed=False)


def _serialize(value: timedelta) -> str:
    return format_duration(value)


def _serialize_or_never(value: timedelta | str) -> str:
    return value if isinstance(value, str) else format_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(_serialize, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["30s", "15m", "4h", "2d"]}),
]
"""A non-negative duration: ``30s``, ``15m``, ``4h``, ``2d`` or ``1w``."""

SignedDuration = Annotated[
    timedelta,
    BeforeValidator(_signed_duration),
    PlainSerializer(_serialize, return_type=str),
    WithJsonSchema({"type": "string", "pattern": SIGNED_PATTERN, "examples": ["-30d", "2h"]}),
]
"""An offset that may be negative (``-30d`` is thirty days before)."""

DurationOrNever = Annotated[
    timedelta | Literal["never"],
    BeforeValidator(_duration_or_never),
    PlainSerializer(_serialize_or_never, return_type=str),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": PATTERN}, {"const": NEVER}]},
    ),
]
"""A duration, or ``never`` written out so waiting forever is a visible choice."""
