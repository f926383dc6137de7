"""``wait_for``: wait for an event, with a timeout that must be written out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from engine.journey import schedule
from engine.journey.actions import Advance, Decision, Finish, Hold
from engine.journey.base import Name
from engine.journey.conditions import Condition, Ref
from engine.journey.contact_view import EventRecord
from engine.journey.diagnostics import Finding, Path
from engine.journey.durations import NEVER, DurationOrNever, format_duration
from engine.journey.state import WaitingOn
from engine.journey.steps.base import Exit, PlanContext, StepBase, StepContext


class WaitForStep(StepBase):
    """Continue at ``on_event`` when a matching event arrives, else at ``on_timeout``.

    ``timeout`` is required (``never`` must be explicit) so nobody waits forever by accident.
    """

    waits: ClassVar[bool] = True

    type: Literal["wait_for"]
    event: Name
    match: Condition | None = None
    timeout: DurationOrNever | None = None
    check_existing: Literal["since_entry", False] = False
    on_event: Name | None = None
    on_timeout: Name | None = None

    def exits(self) -> Iterator[Exit]:
        """Yield ``on_event`` and, unless the wait never times out, ``on_timeout``."""
        yield Exit(("on_event",), self.on_event)
        if self.timeout != NEVER or self.on_timeout is not None:
            yield Exit(("on_timeout",), self.on_timeout)

    def conditions(self) -> Iterator[tuple[Condition, Path, bool]]:
        """Yield ``match``, which compares the awaited event's properties."""
        if self.match is not None:
            yield self.match, ("match",), True

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require a timeout, and no ``on_timeout`` when it is ``never``."""
        if self.timeout is None:
            yield Finding(
                "E403", path, "wait_for needs a 'timeout' (write 'timeout: never' to wait forever)"
            )
        elif self.timeout == NEVER and self.on_timeout is not None:
            yield Finding(
                "E408", (*path, "on_timeout"), "'on_timeout' is never taken with 'timeout: never'"
            )

    def delay(self) -> timedelta | None:
        """Return the timeout (None when the wait may last forever)."""
        return self.timeout if isinstance(self.timeout, timedelta) else None

    def plan(self, ctx: PlanContext) -> Decision:
        """Go to ``on_event`` once a matching event is seen, ``on_timeout`` at the deadline.

        An event counts when it occurred after the wait started (after entry with
        ``check_existing: since_entry``) and no later than the deadline: an event
        that arrives after the timeout is too late even if it is processed first.
        """
        started = ctx.state.wait_started_at if ctx.resuming else None
        since = started or ctx.now
        if ctx.resuming:
            deadline = ctx.state.wake_at
        elif isinstance(self.timeout, timedelta):
            deadline = schedule.after(ctx.now, self.timeout, ctx.zone)
        else:
            deadline = None
        seen_from = ctx.state.entered_at if self.check_existing == "since_entry" else since
        horizon = min(ctx.now, deadline) if deadline is not None else ctx.now
        found = self._matching(ctx, seen_from, horizon)
        if found is not None:
            if self.on_event is None:
                return Finish("no_next_step", "wait_for has no 'on_event'")
            why = f"'{self.event}' at {found.occurred_at.isoformat()} → {self.on_event}"
            return Advance(self.on_event, why=why, what="event")
        if deadline is not None and ctx.now >= deadline:
            if self.on_timeout is None:
                return Finish("no_next_step", "wait_for timed out with no 'on_timeout'")
            why = f"no '{self.event}' by {deadline.isoformat()} → {self.on_timeout}"
            return Advance(self.on_timeout, why=why, what="timeout")
        waiting_on = WaitingOn(
            step=ctx.step_id,
            event=self.event,
            match=_resolved(self.match, ctx) if self.match is not None else None,
            since=seen_from,
        )
        limit = format_duration(self.timeout) if isinstance(self.timeout, timedelta) else NEVER
        why = f"waiting for '{self.event}' (timeout {limit})"
        return Hold(deadline, why, what="wait_for", waiting_on=waiting_on)

    def _matching(self, ctx: PlanContext, start: datetime, end: datetime) -> EventRecord | None:
        for event in sorted(ctx.contact.events, key=lambda e: schedule.utc(e.occurred_at)):
            at = schedule.utc(event.occurred_at)
            if event.name != self.event or at < start or at > end:
                continue
            if self.match is None or ctx.holds(self.match, event):
                return event
        return None


def _resolved(condition: Condition, ctx: PlanContext) -> Any:
    """Return the condition as JSON with ``{ref: …}`` replaced by the referenced values."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"ref"} and isinstance(node["ref"], str):
                return ctx.resolve(Ref.model_construct(ref=node["ref"]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(condition.model_dump(mode="json", by_alias=True, exclude_unset=True))
