"""``wait``: pause for a duration, or until a date (absolute or from an attribute)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Tag

from engine.journey.base import AttrPath, Name, SpecModel
from engine.journey.diagnostics import Finding, Path
from engine.journey.durations import Duration, SignedDuration
from engine.journey.steps.base import Exit, StepBase, StepContext
from engine.journey.times import IsoInstant, LocalTime, Weekday


class UntilAttribute(SpecModel):
    """A date read from the contact: ``{attribute: subscription.end_date, offset: -7d, at: "09:00"}``."""

    attribute: AttrPath
    offset: SignedDuration = timedelta(0)
    at: LocalTime | None = None


class Align(SpecModel):
    """Round the wake-up to a local time and/or allowed weekdays."""

    at: LocalTime | None = None
    days: tuple[Weekday, ...] | None = None


def _until_kind(value: Any) -> str:
    return "until:attribute" if isinstance(value, dict | UntilAttribute) else "until:instant"


Until = Annotated[
    Annotated[UntilAttribute, Tag("until:attribute")] | Annotated[IsoInstant, Tag("until:instant")],
    Discriminator(_until_kind),
]


class WaitStep(StepBase):
    """Pause the contact; ``if_past`` says what to do when ``until`` has already gone by."""

    waits: ClassVar[bool] = True

    type: Literal["wait"]
    duration: Duration | None = None
    until: Until | None = None
    align: Align | None = None
    if_past: Name | None = None
    next: Name | None = None

    def exits(self) -> Iterator[Exit]:
        """Yield ``next`` and, when it names a step, ``if_past``."""
        yield Exit(("next",), self.next)
        if self.if_past is not None and self.if_past != "continue":
            yield Exit(("if_past",), self.if_past)

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require exactly one of ``duration`` and ``until``."""
        if (self.duration is None) == (self.until is None):
            yield Finding("E408", path, "a wait needs exactly one of 'duration' or 'until'")

    def delay(self) -> timedelta | None:
        """Return the duration; a wait ``until`` a date has no fixed length."""
        return self.duration
