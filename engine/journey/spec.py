"""The journey/v1 document: its top-level policies and its steps."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from engine.journey.base import AttrPath, Name, SpecModel
from engine.journey.conditions import Condition
from engine.journey.durations import Duration
from engine.journey.steps import Step, StepId
from engine.journey.steps.send_email import Email, Respect, Sender
from engine.journey.times import WEEKDAYS, LocalTime, TimeZoneName, Weekday
from engine.journey.triggers import Trigger

DSL = "journey/v1"
JOURNEY_ID_PATTERN = r"^[a-z][a-z0-9-]{2,63}$"
_DSL = re.compile(r"^journey/v(\d+)$")


def _dsl(value: str) -> str:
    match = _DSL.match(value)
    if match is None or match.group(1) != "1":
        raise PydanticCustomError(
            "E110",
            "unsupported dsl '{dsl}'; this engine reads '{ours}'",
            {"dsl": value, "ours": DSL},
        )
    return value


class Entry(SpecModel):
    """Who may enter again, how often, and whether enrollments may overlap."""

    reentry: Literal["never", "after_exit", "always"] = "never"
    concurrent: Literal[False, "per_key"] = False
    max_entries: Annotated[int, Field(ge=1)] | None = None
    cooldown: Duration | None = None


class TimezonePolicy(SpecModel):
    """Where to read the contact's time zone, and the zone to use when it is missing."""

    attribute: AttrPath = "timezone"
    fallback: TimeZoneName = "UTC"


class SendWindow(SpecModel):
    """Local days and hours in which mail may be sent; outside them sends wait."""

    days: tuple[Weekday, ...] = WEEKDAYS
    start: LocalTime
    end: LocalTime


class QuietHours(SpecModel):
    """Local hours with no sends (may wrap midnight); ``on_quiet`` defers or skips."""

    start: LocalTime
    end: LocalTime
    on_quiet: Literal["defer", "skip"] = "defer"


Scope = Annotated[str, StringConstraints(pattern=r"^(global|journey|tag:[A-Za-z0-9_\-]+)$")]


class FrequencyCap(SpecModel):
    """At most ``max`` marketing sends ``per`` period, counted across ``scope``."""

    max: Annotated[int, Field(ge=1)]
    per: Duration
    scope: Scope = "global"
    on_limit: Literal["defer", "skip"] = "defer"


class SendEmailDefaults(SpecModel):
    """Defaults every ``send_email`` step inherits."""

    from_: Sender | None = Field(default=None, alias="from")
    reply_to: Email | None = None
    topic: Name | None = None
    respect: Respect | None = None


class Defaults(SpecModel):
    """Per-kind defaults."""

    send_email: SendEmailDefaults | None = None


class Goal(SpecModel):
    """A conversion measured for the journey; ``exit: true`` ends the enrollment when met."""

    id: Name
    when: Condition
    within: Duration | None = None
    exit: bool = False


class JourneySpec(SpecModel):
    """A whole journey/v1 document. Published versions are immutable; enrollments stay pinned."""

    dsl: Annotated[str, AfterValidator(_dsl)]
    id: Annotated[str, StringConstraints(pattern=JOURNEY_ID_PATTERN)]
    name: Annotated[str, StringConstraints(min_length=1)]
    version: Annotated[int, Field(ge=1)]
    description: str | None = None
    triggers: Annotated[tuple[Trigger, ...], Field(min_length=1)]
    audience: Condition | None = None
    entry: Entry = Entry()
    timezone: TimezonePolicy = TimezonePolicy()
    send_window: SendWindow | None = None
    quiet_hours: QuietHours | None = None
    frequency_cap: FrequencyCap | None = None
    defaults: Defaults | None = None
    exit_when: tuple[Condition, ...] = ()
    goals: tuple[Goal, ...] = ()
    start: Name
    steps: Mapping[StepId, Step]
    migrate: Mapping[str, Name] | None = None
