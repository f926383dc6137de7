"""``wait``: pause for a duration, or until a date (absolute or from an attribute)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Tag

from engine.journey import schedule
from engine.journey.actions import Advance, Decision, Finish, Hold
from engine.journey.base import AttrPath, Name, SpecModel
from engine.journey.diagnostics import Finding, Path
from engine.journey.durations import Duration, SignedDuration, format_duration
from engine.journey.predicates import lookup
from engine.journey.steps.base import Exit, PlanContext, StepBase, StepContext
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

    def plan(self, ctx: PlanContext) -> Decision:
        """Start the wait (wake time in the contact's zone), keep holding, or move on.

        An ``until`` already gone by (or an ``until`` attribute the contact lacks)
        follows ``if_past``: ``continue`` (the default) or the named step.
        """
        if self.next is None:
            return Finish("no_next_step", "wait has no 'next'")
        if ctx.resuming:
            wake = ctx.state.wake_at
            if wake is None or ctx.now >= wake:
                return Advance(self.next, why="wait is over", what="wake")
            return Hold(wake, lambda: f"waiting until {_show(wake, ctx)}")
        target = self._target(ctx)
        if target is None or (self.until is not None and target < ctx.now):
            why = (
                f"{self._what()} is missing"
                if target is None
                else f"{self._what()} is already past"
            )
            if self.if_past not in (None, "continue"):
                return Advance(self.if_past, why=f"{why}: if_past → {self.if_past}", what="if_past")
            return Advance(self.next, why=f"{why}: continue", what="if_past")
        if self.align is not None:
            target = schedule.align(target, ctx.zone, self.align.at, self.align.days)
        if target <= ctx.now:
            return Advance(self.next, why=lambda: f"{self._what()} reached", what="wake")
        wake_at = target  # a name the closure below sees as a datetime, never None
        return Hold(wake_at, lambda: f"{self._what()}: until {_show(wake_at, ctx)}")

    def _target(self, ctx: PlanContext) -> datetime | None:
        """When the wait ends, before alignment (None: the attribute is not a date)."""
        if self.duration is not None:
            return schedule.after(ctx.now, self.duration, ctx.zone)
        if isinstance(self.until, UntilAttribute):
            until = self.until
            value = lookup(ctx.contact.attributes, until.attribute)
            return schedule.date_anchor(value, until.offset, until.at, ctx.zone)
        if self.until is not None:
            return schedule.instant(self.until, ctx.zone)
        return None

    def _what(self) -> str:
        """The wait in words, for a plan's trace."""
        if self.duration is not None:
            return f"wait {format_duration(self.duration)}"
        if isinstance(self.until, UntilAttribute):
            offset = f" {format_duration(self.until.offset)}" if self.until.offset else ""
            return f"'{self.until.attribute}'{offset}"
        if self.until is not None:
            return f"until {self.until.isoformat()}"
        return "a wait without duration or until"


def _show(moment: datetime, ctx: PlanContext) -> str:
    return moment.astimezone(ctx.zone).isoformat()
