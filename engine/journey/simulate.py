"""What would happen to this contact: replay ``plan`` over a timeline of events and wake-ups.

Pure, like the planner: the timeline is given, time only moves to the next event
or the next ``wake_at``, and the actions of each plan are applied to the
simulated contact (attribute updates, tags, scores, ``sent`` records) before the
next call. Email engagement (opens, clicks) is whatever ``contact.emails``
already holds: records dated in the future count once the simulation reaches them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.journey import schedule
from engine.journey.actions import SendEmail, apply_action
from engine.journey.contact_view import ContactView, EventRecord
from engine.journey.planner import CompiledJourney, Plan, plan
from engine.journey.spec import JourneySpec
from engine.journey.state import EnrollmentState

MAX_CALLS = 1_000
"""Plan calls one simulation makes at most."""


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One ``plan`` call of a simulation: when, for which event, what it decided, and after."""

    at: datetime
    event: EventRecord | None
    plan: Plan
    contact: ContactView

    @property
    def sends(self) -> tuple[SendEmail, ...]:
        """Return the emails sent by this call."""
        return self.plan.sends


def simulate(
    journey: JourneySpec | CompiledJourney,
    contact: ContactView,
    events: Iterable[EventRecord],
    start: datetime,
    until: datetime,
    *,
    entry: Mapping[str, Any] | None = None,
    enrollment_id: str = "simulation",
    contact_id: str = "contact",
    max_calls: int = MAX_CALLS,
) -> list[PlanStep]:
    """Enroll ``contact`` at ``start`` and replay ``plan`` until it exits or ``until`` passes.

    ``entry`` is the entry event (``{"name": …, "properties": {…}}``) or, for a date
    trigger, the attribute snapshot. ``events`` happen later, in time order; each
    causes a ``plan`` call with ``event=``. Wake-ups due after ``until`` are not run.
    """
    compiled = journey if isinstance(journey, CompiledJourney) else CompiledJourney(journey)
    start, until = schedule.utc(start), schedule.utc(until)
    state = EnrollmentState.enter(
        compiled.spec,
        enrollment_id=enrollment_id,
        contact_id=contact_id,
        entered_at=start,
        entry=entry,
    )
    pending = sorted(
        (e for e in events if start <= schedule.utc(e.occurred_at) <= until),
        key=lambda e: schedule.utc(e.occurred_at),
    )
    steps: list[PlanStep] = []
    now, event = start, None
    while len(steps) < max_calls:
        if event is not None:
            contact = dataclasses.replace(contact, events=(*contact.events, event))
        result = plan(compiled, state, contact, now, event=event)
        for action in result.actions:
            contact = apply_action(contact, action, now)
        steps.append(PlanStep(now, event, result, contact))
        state = result.state
        if state.exited:
            break
        wake = result.wake_at
        if pending and (wake is None or schedule.utc(pending[0].occurred_at) <= wake):
            event = pending.pop(0)
            now = schedule.utc(event.occurred_at)
        elif wake is not None and wake <= until:
            now, event = max(wake, now), None
        else:
            break
    return steps
