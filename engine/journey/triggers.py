"""How contacts enter a journey: an event, a segment change, a date, or a schedule."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Discriminator, Tag, WithJsonSchema

from engine.journey.base import AttrPath, Name, SpecModel
from engine.journey.conditions import Condition
from engine.journey.cron import Cron
from engine.journey.durations import SignedDuration
from engine.journey.times import LocalTime, TimeZoneName


def _key_paths(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


CorrelationKey = Annotated[
    tuple[AttrPath, ...],
    BeforeValidator(_key_paths),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]
"""Path(s) whose values tell enrollments apart: one per cart, one per contract term."""


class EventTrigger(SpecModel):
    """Enroll when an event arrives and ``where`` holds for its properties."""

    tag: ClassVar[str | None] = "trigger:event"
    event: Name
    where: Condition | None = None
    key: CorrelationKey | None = None


#: The events the runtime stores when a contact enters or leaves a segment (``properties``:
#: ``{"segment": id}``); a segment trigger is an event trigger on one of them.
SEGMENT_ENTERED = "segment.entered"
SEGMENT_EXITED = "segment.exited"


class SegmentTrigger(SpecModel):
    """Enroll when the contact enters (or exits) a segment; the key is ``when``, not ``on``."""

    tag: ClassVar[str | None] = "trigger:segment"
    segment: Name
    when: Literal["enters", "exits"] = "enters"

    @property
    def event(self) -> str:
        """The membership event this trigger listens to."""
        return SEGMENT_ENTERED if self.when == "enters" else SEGMENT_EXITED


class DateAnchor(SpecModel):
    """A date attribute plus an offset and a local time: ``end_date - 30d at 09:00``.

    ``late_entry`` decides what happens to contacts whose moment has already passed
    when the journey is published: ``enter_now`` or ``skip``.
    """

    attribute: AttrPath
    offset: SignedDuration = timedelta(0)
    at: LocalTime | None = None
    late_entry: Literal["enter_now", "skip"] = "skip"


class DateTrigger(SpecModel):
    """Enroll relative to a date attribute."""

    tag: ClassVar[str | None] = "trigger:date"
    date: DateAnchor
    key: CorrelationKey | None = None


class Schedule(SpecModel):
    """A cron schedule; ``timezone`` defaults to UTC."""

    cron: Cron
    timezone: TimeZoneName | None = None


class ScheduleTrigger(SpecModel):
    """Enroll the whole ``audience`` in a batch on a schedule."""

    tag: ClassVar[str | None] = "trigger:schedule"
    schedule: Schedule


TRIGGER_KEYS = ("event", "segment", "date", "schedule")
TRIGGER_TAGS = frozenset(f"trigger:{key}" for key in TRIGGER_KEYS)


def _trigger_kind(value: Any) -> str | None:
    if isinstance(value, SpecModel):
        return value.tag
    if isinstance(value, dict):
        for key in TRIGGER_KEYS:
            if key in value:
                return f"trigger:{key}"
    return None


Trigger = Annotated[
    Annotated[EventTrigger, Tag("trigger:event")]
    | Annotated[SegmentTrigger, Tag("trigger:segment")]
    | Annotated[DateTrigger, Tag("trigger:date")]
    | Annotated[ScheduleTrigger, Tag("trigger:schedule")],
    Discriminator(
        _trigger_kind,
        custom_error_type="trigger_kind",
        custom_error_message="expected a trigger",
    ),
]
"""Any trigger, chosen by which of ``event``, ``segment``, ``date``, ``schedule`` it has."""
