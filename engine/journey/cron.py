"""A compact checker for five-field cron expressions (the scheduler parses them later)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names, value of the first name)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...], int], ...] = (
    ("minute", 0, 59, (), 0),
    ("hour", 0, 23, (), 0),
    ("day-of-month", 1, 31, (), 0),
    ("month", 1, 12, _MONTHS, 1),
    ("day-of-week", 0, 7, _DAYS, 0),
)


def _value(text: str, field: tuple[str, int, int, tuple[str, ...], int]) -> int:
    name, low, high, names, first = field
    if text.lower() in names:
        return names.index(text.lower()) + first
    if not text.isdigit():
        raise ValueError(f"{name} '{text}' is not a number or a known name")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{name} {number} is outside {low}-{high}")
    return number


def _check_item(item: str, field: tuple[str, int, int, tuple[str, ...], int]) -> None:
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) == 0):
        raise ValueError(f"{field[0]} step '{step}' must be a positive number")
    if base == "*":
        return
    low, dash, high = base.partition("-")
    first = _value(low, field)
    if dash and _value(high, field) < first:
        raise ValueError(f"{field[0]} range '{base}' runs backwards")


def cron_problems(expression: str) -> list[str]:
    """Return what is wrong with a cron expression (empty when it is valid)."""
    parts = expression.split()
    if len(parts) != 5:
        return [
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(parts)}"
        ]
    problems: list[str] = []
    for part, field in zip(parts, _FIELDS, strict=True):
        for item in part.split(","):
            try:
                _check_item(item, field)
            except ValueError as exc:
                problems.append(str(exc))
    return problems


def _cron(value: str) -> str:
    problems = cron_problems(value)
    if problems:
        raise PydanticCustomError(
            "E109", "bad cron '{cron}': {why}", {"cron": value, "why": "; ".join(problems)}
        )
    return value


Cron = Annotated[
    str,
    AfterValidator(_cron),
    WithJsonSchema({"type": "string", "examples": ["0 9 * * MON"]}),
]
"""A five-field cron expression: ``*``, lists, ranges, steps, and names like MON or JAN."""


@dataclass(frozen=True, slots=True)
class CronFields:
    """A cron expression expanded to the values each field allows, in standard cron terms.

    ``weekdays`` counts from Sunday = 0 (7 is folded into 0). When both ``days`` and
    ``weekdays`` are restricted, a day matches if *either* does, as in Vixie cron.
    """

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool


def cron_fields(expression: str) -> CronFields:
    """Expand a valid five-field expression; raise ValueError naming the problem otherwise."""
    problems = cron_problems(expression)
    if problems:
        raise ValueError("; ".join(problems))
    parts = expression.split()
    values = [_expand(part, field) for part, field in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in values[4])
    return CronFields(
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )


def _expand(part: str, field: tuple[str, int, int, tuple[str, ...], int]) -> frozenset[int]:
    _, low, high, _, _ = field
    found: set[int] = set()
    for item in part.split(","):
        base, slash, step_text = item.partition("/")
        step = int(step_text) if slash else 1
        if base == "*":
            first, last = low, high
        else:
            start, dash, end = base.partition("-")
            first = _value(start, field)
            # "5/15" runs from 5 to the field's end, as in Vixie cron.
            last = _value(end, field) if dash else (high if slash else first)
        found.update(range(first, last + 1, step))
    return frozenset(found)
