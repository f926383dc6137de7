"""The planner's core: advancing, stopping, idempotency keys, exit_when, goals, caps, state."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from engine.errors import InvalidInput
from engine.journey import (
    AdjustScore,
    CompiledJourney,
    EmailRecord,
    EnrollmentState,
    EventRecord,
    Exit,
    Plan,
    ReachGoal,
    SendEmail,
    Tag,
    UpdateContact,
    action_to_json,
    plan,
)
from tests.engine.journey.test_planner_support import (
    NOW,
    enter,
    example,
    journey,
    kinds,
    only,
    yamada,
)

WELCOME = journey(
    """\
    start: thanks
    steps:
      thanks:
        type: send_email
        template: seminar-thanks-ja
        subject: "{{ contact.last_name }} 様、ご参加ありがとうございました"
        next: points
      points: {type: score, adjust: 15, reason: セミナー参加, next: wait_2d}
      wait_2d: {type: wait, duration: 2d, next: follow}
      follow: {type: tag, add: [フォロー済み], next: done}
      done: {type: exit, reason: 完了}
    """
)


def test_runs_immediate_steps_and_stops_at_a_wait() -> None:
    result = plan(WELCOME, enter(WELCOME), yamada(), NOW)

    assert kinds(result) == ["SendEmail", "AdjustScore"]
    send = only(result, SendEmail)
    assert send.subject == "{{ contact.last_name }} 様、ご参加ありがとうございました"
    assert send.from_ is not None and send.from_.name == "株式会社ナーチャー"
    assert result.wake_at == NOW + timedelta(days=2)
    assert result.state.step == "wait_2d"
    assert result.state.status == "waiting"
    assert result.state.steps_taken == 3
    assert dict(result.state.attempts) == {"thanks": 1, "points": 1, "wait_2d": 1}
    assert [(n.step, n.what) for n in result.trace] == [
        ("thanks", "send"),
        ("points", "score"),
        ("wait_2d", "wait"),
    ]


def test_every_effect_carries_enrollment_step_and_attempt() -> None:
    result = plan(WELCOME, enter(WELCOME, enrollment_id="enr-42"), yamada(), NOW)

    assert [a.idempotency_key for a in result.actions if not isinstance(a, Exit)] == [
        "enr-42:thanks:1",
        "enr-42:points:1",
    ]


def test_the_same_call_gives_the_same_plan() -> None:
    compiled = CompiledJourney(WELCOME)
    state = enter(WELCOME)

    assert plan(compiled, state, yamada(), NOW) == plan(WELCOME, state, yamada(), NOW)


def test_before_the_wake_time_nothing_happens_and_the_timer_stays() -> None:
    waiting = plan(WELCOME, enter(WELCOME), yamada(), NOW).state

    early = plan(WELCOME, waiting, yamada(), NOW + timedelta(days=1))

    assert early.actions == ()
    assert early.wake_at == NOW + timedelta(days=2)
    assert early.state == waiting


def test_waking_continues_to_the_end() -> None:
    waiting = plan(WELCOME, enter(WELCOME), yamada(), NOW).state

    result = plan(WELCOME, waiting, yamada(), NOW + timedelta(days=2))

    assert kinds(result) == ["Tag", "Exit"]
    assert only(result, Tag).add == ("フォロー済み",)
    assert only(result, Exit).reason == "完了"
    assert result.exited and result.wake_at is None
    assert result.state.exit_reason == "完了"


def test_an_exited_enrollment_plans_nothing() -> None:
    waiting = plan(WELCOME, enter(WELCOME), yamada(), NOW).state
    done = plan(WELCOME, waiting, yamada(), NOW + timedelta(days=2)).state

    again = plan(WELCOME, done, yamada(), NOW + timedelta(days=3))

    assert again.actions == ()
    assert again.state == done


def test_a_state_of_another_version_is_refused() -> None:
    state = dataclasses.replace(enter(WELCOME), version=2)

    with pytest.raises(InvalidInput) as caught:
        plan(WELCOME, state, yamada(), NOW)

    assert "pinned to planner-test v2" in caught.value.message


def test_later_steps_see_earlier_effects_of_the_same_call() -> None:
    spec = journey(
        """\
        start: points
        steps:
          points: {type: score, adjust: 50, next: ready}
          ready:
            type: branch
            if: {score: {gte: 50}}
            then: sales
            else: nurture
          sales: {type: update_contact, set: {lifecycle_stage: sql}, next: check}
          check:
            type: branch
            if: {attr: lifecycle_stage, eq: sql}
            then: done
            else: nurture
          nurture: {type: exit, reason: 育成継続}
          done: {type: exit, reason: 営業へ}
        """
    )

    result = plan(spec, enter(spec), yamada(), NOW)

    assert only(result, Exit).reason == "営業へ"


# --- exit_when and goals -------------------------------------------------------------------

EXITING = journey(
    """\
    exit_when:
      - {attr: lifecycle_stage, eq: customer}
      - {event: meeting_booked}
    goals:
      - {id: clicked, when: {email: clicked}, within: 3d}
      - {id: meeting, when: {event: meeting_booked}, exit: true}
      - {id: became_customer, when: {attr: lifecycle_stage, eq: customer}}
    start: wait
    steps:
      wait: {type: wait, duration: 7d, next: done}
      done: {type: exit}
    """
)


def _waiting() -> EnrollmentState:
    return plan(EXITING, enter(EXITING), yamada(), NOW).state


def test_exit_when_on_an_attribute_cancels_the_wait_at_once() -> None:
    result = plan(EXITING, _waiting(), yamada(lifecycle_stage="customer"), NOW + timedelta(hours=1))

    assert kinds(result) == ["ReachGoal", "Exit"]
    assert only(result, ReachGoal).goal_id == "became_customer"  # recorded before the exit
    assert only(result, Exit).reason == "exit_when"
    assert result.wake_at is None
    assert result.trace[-1].why == "exit_when[0] holds"


def test_exit_when_wins_over_a_goal_that_exits() -> None:
    booked = EventRecord("meeting_booked", NOW + timedelta(hours=2))
    contact = dataclasses.replace(yamada(), events=(booked,))

    result = plan(EXITING, _waiting(), contact, NOW + timedelta(hours=2), event=booked)

    assert [a.goal_id for a in result.actions if isinstance(a, ReachGoal)] == ["meeting"]
    assert only(result, Exit).reason == "exit_when"


def test_exit_when_and_goals_ignore_events_before_entry() -> None:
    old = EventRecord("meeting_booked", NOW - timedelta(days=30))
    contact = dataclasses.replace(yamada(), events=(old,))

    result = plan(EXITING, _waiting(), contact, NOW + timedelta(hours=1))

    assert result.actions == ()
    assert result.state.status == "waiting"


def test_the_event_passed_in_counts_even_if_the_view_lacks_it() -> None:
    booked = EventRecord("meeting_booked", NOW + timedelta(hours=2))

    result = plan(EXITING, _waiting(), yamada(), NOW + timedelta(hours=2), event=booked)

    assert only(result, Exit).reason == "exit_when"


@pytest.mark.parametrize(
    ("clicked_after", "checked_after", "reached"),
    [
        (timedelta(days=1), timedelta(days=1), True),
        (timedelta(days=2), timedelta(days=3), True),
        (timedelta(days=3, hours=1), timedelta(days=3, hours=1), False),  # outside `within: 3d`
    ],
)
def test_a_goal_counts_only_within_its_window_from_entry(
    clicked_after: timedelta, checked_after: timedelta, reached: bool
) -> None:
    click = EmailRecord("clicked", NOW + clicked_after, step="x")
    contact = dataclasses.replace(yamada(), emails=(click,))

    result = plan(EXITING, _waiting(), contact, NOW + checked_after)

    assert (result.actions == (ReachGoal("clicked", None, "enr-1:goal:clicked"),)) is reached
    assert ("clicked" in result.state.goals) is reached
    assert result.state.status == "waiting"


def test_a_goal_is_recorded_once() -> None:
    click = EmailRecord("clicked", NOW + timedelta(hours=1))
    contact = dataclasses.replace(yamada(), emails=(click,))
    first = plan(EXITING, _waiting(), contact, NOW + timedelta(hours=2))

    second = plan(EXITING, first.state, contact, NOW + timedelta(hours=3))

    assert kinds(first) == ["ReachGoal"]
    assert second.actions == ()


def test_a_goal_with_exit_ends_the_enrollment() -> None:
    spec = journey(
        """\
        goals: [{id: meeting, when: {event: meeting_booked, since: entry}, within: 14d, exit: true}]
        start: wait
        steps:
          wait: {type: wait, duration: 20d, next: done}
          done: {type: exit}
        """
    )
    waiting = plan(spec, enter(spec), yamada(), NOW).state
    booked = EventRecord("meeting_booked", NOW + timedelta(days=5))

    result = plan(spec, waiting, yamada(), booked.occurred_at, event=booked)

    assert kinds(result) == ["ReachGoal", "Exit"]
    assert only(result, Exit).reason == "goal:meeting"


def test_a_goal_reached_by_the_journey_itself_is_recorded_before_it_exits() -> None:
    spec = example("b2b-lead-nurture")
    state = dataclasses.replace(enter(spec), step="mark_sql")
    contact = yamada(timezone="America/New_York")

    result = plan(spec, state, contact, NOW)

    assert kinds(result) == ["UpdateContact", "ReachGoal", "Exit"]
    assert only(result, ReachGoal).step == "mark_sql"
    assert only(result, Exit).reason == "nurture complete"


def test_a_goal_step_records_its_goal_and_may_exit() -> None:
    spec = journey(
        """\
        goals: [{id: booked, when: {tag: booked}, exit: true}, {id: read, when: {tag: read}}]
        start: mark_read
        steps:
          mark_read: {type: goal, id: read, next: mark_booked}
          mark_booked: {type: goal, id: booked, next: done}
          done: {type: exit}
        """
    )

    result = plan(spec, enter(spec), yamada(), NOW)

    assert [(a.goal_id, a.step) for a in result.actions if isinstance(a, ReachGoal)] == [
        ("read", "mark_read"),
        ("booked", "mark_booked"),
    ]
    assert only(result, Exit).reason == "goal:booked"
    assert result.state.goals == {"read", "booked"}


# --- caps ------------------------------------------------------------------------------------

LOOP = journey(
    """\
    start: points
    steps:
      points: {type: score, adjust: 1, next: check}
      check: {type: branch, if: {tag: 停止}, then: done, else: again}
      again: {type: wait, duration: 0s, next: points}
      done: {type: exit}
    """
)


def test_a_cycle_without_a_real_wait_stops_at_the_per_call_cap() -> None:
    result = plan(LOOP, enter(LOOP), yamada(), NOW)

    assert len([a for a in result.actions if isinstance(a, AdjustScore)]) == 34
    assert result.state.steps_taken == 100
    assert only(result, Exit).reason == "step_limit"
    assert "this call" in result.trace[-1].why


def test_a_small_cap_can_be_passed() -> None:
    result = plan(LOOP, enter(LOOP), yamada(), NOW, max_steps_per_call=3)

    assert kinds(result) == ["AdjustScore", "Exit"]
    assert result.state.steps_taken == 3


def test_the_per_enrollment_cap_counts_earlier_calls() -> None:
    state = dataclasses.replace(enter(LOOP), steps_taken=999)

    result = plan(LOOP, state, yamada(), NOW)

    assert kinds(result) == ["AdjustScore", "Exit"]
    assert "this enrollment" in result.trace[-1].why


def test_a_revisited_step_gets_a_new_attempt_and_key() -> None:
    spec = journey(
        """\
        start: remind
        steps:
          remind: {type: send_email, template: reminder, subject: ご確認ください, next: pause}
          pause: {type: wait, duration: 1d, next: check}
          check: {type: branch, if: {email: clicked}, then: done, else: remind}
          done: {type: exit}
        """
    )
    first = plan(spec, enter(spec), yamada(), NOW)

    second = plan(spec, first.state, yamada(), NOW + timedelta(days=1))

    assert only(first, SendEmail).idempotency_key == "enr-1:remind:1"
    assert only(second, SendEmail).idempotency_key == "enr-1:remind:2"


# --- removed steps -------------------------------------------------------------------------


def test_a_contact_in_a_removed_step_follows_migrate() -> None:
    spec = journey(
        """\
        migrate: {old_wait: done}
        start: done
        steps:
          done: {type: exit, reason: 移行}
        """
    )
    state = dataclasses.replace(enter(spec), step="old_wait", status="waiting")

    result = plan(spec, state, yamada(), NOW)

    assert only(result, Exit).reason == "移行"
    assert result.trace[0].what == "migrate"


def test_a_contact_in_an_unknown_step_exits() -> None:
    state = dataclasses.replace(enter(WELCOME), step="vanished")

    result = plan(WELCOME, state, yamada(), NOW)

    assert only(result, Exit).reason == "unknown_step"


# --- state and actions serialise ---------------------------------------------------------


def test_state_round_trips_through_json() -> None:
    spec = example("abandoned-cart")
    entry = {"name": "checkout_started", "properties": {"cart_id": "カート-1"}}
    state = plan(spec, enter(spec, entry=entry), yamada(), NOW).state

    text = json.dumps(state.to_json(), ensure_ascii=False)

    assert EnrollmentState.from_json(json.loads(text)) == state
    assert state.waiting_on is not None


def test_actions_serialise_with_their_kind() -> None:
    result = plan(WELCOME, enter(WELCOME), yamada(), NOW)

    body = [action_to_json(a) for a in result.actions]

    assert json.loads(json.dumps(body, ensure_ascii=False)) == body
    assert body[0]["kind"] == "SendEmail"
    assert body[0]["from"] == {"email": "info@nurture.example.jp", "name": "株式会社ナーチャー"}
    assert body[1] == {
        "kind": "AdjustScore",
        "step": "points",
        "delta": 15,
        "model": "default",
        "reason": "セミナー参加",
        "idempotency_key": "enr-1:points:1",
    }


def test_update_contact_resolves_refs_from_entry_and_contact() -> None:
    spec = journey(
        """\
        start: remember
        steps:
          remember:
            type: update_contact
            set:
              last_seminar: {ref: entry.properties.seminar_id}
              greeting_name: {ref: contact.last_name}
              stage: 見込み客
            unset: [temporary]
            increment: {seminars_attended: 1}
            next: done
          done: {type: exit}
        """
    )
    entry = {"name": "seminar_attended", "properties": {"seminar_id": "ma-intro-2026"}}

    result = plan(spec, enter(spec, entry=entry), yamada(), NOW)

    update = only(result, UpdateContact)
    assert dict(update.set) == {
        "last_seminar": "ma-intro-2026",
        "greeting_name": "山田",
        "stage": "見込み客",
    }
    assert update.unset == ("temporary",)
    assert dict(update.increment) == {"seminars_attended": 1}


def test_plan_is_frozen() -> None:
    result = plan(WELCOME, enter(WELCOME), yamada(), NOW)

    with pytest.raises(dataclasses.FrozenInstanceError):
        result.wake_at = None  # type: ignore[misc]

    assert isinstance(result, Plan)
