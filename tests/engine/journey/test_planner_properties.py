"""Properties of the planner over the shipped example journeys and random contacts and times.

For any valid example, any contact, any events and any moment: ``plan`` never raises,
never wakes in the past, never sends outside the send window or inside quiet hours when the
send respects them, and every call ends holding or exited within the step caps.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.journey import (
    MAX_STEPS_PER_CALL,
    MAX_STEPS_PER_ENROLLMENT,
    CompiledJourney,
    ContactView,
    EmailRecord,
    EnrollmentState,
    EventRecord,
    Plan,
    SendEmail,
    plan,
    schedule,
    validate_journey,
)
from engine.journey.steps import SendEmailStep
from engine.journey.steps.send_email import Respect
from tests.engine.journey.support import JOURNEYS

EXAMPLES = {
    path.stem: CompiledJourney(validate_journey(path.read_text("utf-8"), path.name).spec)  # type: ignore[arg-type]
    for path in sorted(JOURNEYS.glob("*.yaml"))
}
ZONES = [
    "Asia/Tokyo",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "UTC",
    "Nowhere/Zone",
]
EVENT_NAMES = [
    "order_completed", "checkout_started", "meeting_booked", "email_confirmed", "review_submitted",
    "order_delivered", "subscription_renewed", "form_submitted", "seminar_attended", "order_refunded",
]  # fmt: skip
BASE = datetime(2026, 1, 1, tzinfo=UTC)

moments = st.integers(min_value=0, max_value=365 * 24 * 60).map(
    lambda m: BASE + timedelta(minutes=m)
)
properties = st.fixed_dictionaries(
    {},
    optional={
        "cart_id": st.sampled_from(["c1", "c2"]),
        "order_id": st.sampled_from(["A-1", "A-2"]),
        "subscription_id": st.sampled_from(["sub-1", "sub-2"]),
        "cart_value": st.integers(0, 200),
        "form_id": st.sampled_from(["demo-request", "other"]),
        "seminar_id": st.sampled_from(["ma-intro-1", "x"]),
    },
)
events = st.builds(EventRecord, st.sampled_from(EVENT_NAMES), moments, properties)


@st.composite
def contacts(draw: st.DrawFn) -> ContactView:
    end = draw(moments).date().isoformat()
    attributes: dict[str, Any] = {
        "email": "a@example.jp",
        "timezone": draw(st.sampled_from(ZONES)),
        "lifecycle_stage": draw(st.sampled_from(["lead", "customer", "sql", None])),
        "role": "billing_contact",
        "account": {"timezone": draw(st.sampled_from(ZONES))},
        "subscription": {
            "id": "sub-1",
            "end_date": draw(st.sampled_from([end, "garbage", None])),
            "auto_renew": False,
        },
    }
    emails = draw(
        st.lists(
            st.builds(
                EmailRecord,
                st.sampled_from(["sent", "opened", "clicked", "unsubscribed"]),
                moments,
                step=st.sampled_from([None, "welcome", "thanks", "case_study", "materials"]),
            ),
            max_size=3,
        )
    )
    return ContactView(
        attributes=attributes,
        subscriptions=frozenset(
            draw(st.lists(st.sampled_from(["marketing_email", "seminar_followup"])))
        ),
        scores={"default": draw(st.integers(-50, 100))},
        events=tuple(draw(st.lists(events, max_size=4))),
        emails=tuple(emails),
    )


@st.composite
def situations(draw: st.DrawFn) -> tuple[CompiledJourney, EnrollmentState, ContactView, datetime]:
    """An enrollment of an example, at any of its steps, possibly mid-wait, and a moment."""
    compiled = EXAMPLES[draw(st.sampled_from(sorted(EXAMPLES)))]
    spec = compiled.spec
    entered = draw(moments)
    now = entered + timedelta(minutes=draw(st.integers(0, 60 * 24 * 60)))
    entry = {
        "name": "x",
        "properties": draw(properties),
        "subscription": {"id": "sub-1", "end_date": "2026-05-01"},
    }
    state = EnrollmentState.enter(
        spec,
        enrollment_id="e1",
        contact_id=draw(st.sampled_from(["a", "b", "c"])),
        entered_at=entered,
        entry=entry,
    )
    step = draw(st.sampled_from(sorted(spec.steps)))
    state = dataclasses.replace(state, step=step)
    if draw(st.booleans()):  # resuming a hold that began earlier
        started = entered + (now - entered) / 2
        wake = started + timedelta(minutes=draw(st.integers(0, 60 * 24 * 10)))
        state = dataclasses.replace(state, status="waiting", wait_started_at=started, wake_at=wake)
    return compiled, state, draw(contacts()), now


def sends_respect_limits(compiled: CompiledJourney, result: Plan, contact: ContactView) -> None:
    spec = compiled.spec
    zone = schedule.contact_zone(spec.timezone, contact.attributes)
    defaults = spec.defaults.send_email if spec.defaults and spec.defaults.send_email else None
    for action in result.actions:
        if not isinstance(action, SendEmail):
            continue
        step = spec.steps[action.step]
        assert isinstance(step, SendEmailStep)
        respect = (step.respect or Respect.model_construct()).over(
            defaults.respect if defaults else None
        )
        if respect.send_window:
            assert schedule.in_send_window(result.at, zone, spec.send_window), action
        if respect.quiet_hours:
            assert not schedule.in_quiet_hours(result.at, zone, spec.quiet_hours), action


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations(), st.none() | events)
def test_one_plan_call_is_safe(situation, event) -> None:
    compiled, state, contact, now = situation

    result = plan(compiled, state, contact, now, event=event)

    assert result.wake_at is None or result.wake_at >= now
    assert result.state.status in ("waiting", "exited")  # never left mid-step
    assert result.state.steps_taken - state.steps_taken <= MAX_STEPS_PER_CALL
    sends_respect_limits(compiled, result, contact)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations(), st.none() | events)
def test_a_plan_without_its_trace_decides_the_same(situation, event) -> None:
    """Workers plan with ``trace=False``: only the notes may differ from a traced plan."""
    compiled, state, contact, now = situation

    traced = plan(compiled, state, contact, now, event=event)
    untraced = plan(compiled, state, contact, now, event=event, trace=False)

    assert traced.trace  # every call says at least what it decided
    assert untraced.trace == ()
    assert dataclasses.replace(untraced, trace=traced.trace) == traced


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(EXAMPLES)), contacts(), st.lists(events, max_size=6), moments)
def test_every_path_ends_within_the_step_cap(name, contact, later, start) -> None:
    compiled = EXAMPLES[name]
    state = EnrollmentState.enter(
        compiled.spec,
        enrollment_id="e1",
        contact_id="c",
        entered_at=start,
        entry={"name": "x", "properties": {"cart_id": "c1", "order_id": "A-1"}},
    )
    pending = sorted((e for e in later if e.occurred_at >= start), key=lambda e: e.occurred_at)
    now, event = start, None
    for _ in range(200):
        result = plan(compiled, state, contact, now, event=event)
        assert result.wake_at is None or result.wake_at >= now
        sends_respect_limits(compiled, result, contact)
        state = result.state
        if state.exited:
            assert state.exit_reason != "step_limit"
            break
        if pending and (result.wake_at is None or pending[0].occurred_at <= result.wake_at):
            event = pending.pop(0)
            now = max(now, event.occurred_at)
            contact = dataclasses.replace(contact, events=(*contact.events, event))
        elif result.wake_at is not None:
            now, event = result.wake_at, None
        else:
            break  # waiting forever on an event that never comes: allowed, and not a loop
    else:
        raise AssertionError(f"{name} still running after 200 calls at {state.step}")
    assert state.steps_taken <= MAX_STEPS_PER_ENROLLMENT
