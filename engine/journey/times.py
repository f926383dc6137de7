"""Clock-face times, weekdays and IANA time zones as the DSL writes them."""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, datetime, time
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from engine.journey.diagnostics import did_you_mean

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _local_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        match = _HHMM.match(value)
        if match:
            return time(int(match.group(1)), int(match.group(2)))
    raise PydanticCustomError(
        "E107", 'expected a time of day as "HH:MM" (24-hour, quoted), got {got}', {"got": value}
    )


@lru_cache(maxsize=1)
def known_time_zones() -> frozenset[str]:
    """Return the IANA zone names; tzdata is data shipped with Python, read once."""
    return frozenset(zoneinfo.available_timezones())


def _time_zone(value: str) -> str:
    zones = known_time_zones()
    if value not in zones:
        raise PydanticCustomError(
            "E108",
            "unknown time zone '{zone}'{hint}; use an IANA name such as Europe/London",
            {"zone": value, "hint": did_you_mean(value, zones)},
        )
    return value


def _iso_instant(value: Any) -> date | datetime:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError(
        "E102", "expected an ISO date or date-time such as 2025-06-30 or 2025-06-30T09:00:00Z"
    )


LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": _HHMM.pattern, "examples": ["09:00"]}),
]
"""A local clock time ``HH:MM``, read in the contact's time zone."""

TimeZoneName = Annotated[
    str,
    AfterValidator(_time_zone),
    WithJsonSchema({"type": "string", "examples": ["Europe/London", "Asia/Tokyo"]}),
]
"""An IANA time zone name (never a fixed UTC offset)."""

IsoInstant = Annotated[
    date | datetime,
    BeforeValidator(_iso_instant),
    PlainSerializer(lambda v: v.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An absolute ISO date or date-time."""
