"""The shipped example journeys, simulated end to end for a Tokyo and a New York contact."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.journey import (
    CompiledJourney,
    ContactView,
    EmailRecord,
    EventRecord,
    Exit,
    Handoff,
    PlanStep,
    ReachGoal,
    simulate,
)
from tests.engine.journey.test_planner_support import example, z

TOKYO = ZoneInfo("Asia/Tokyo")
NY = ZoneInfo("America/New_York")


def sends(steps: list[PlanStep], zone: ZoneInfo) -> list[tuple[str, str]]:
    """Return ``(template, local time)`` for every send, in order."""
    return [
        (send.template, step.at.astimezone(zone).isoformat(timespec="minutes"))
        for step in steps
        for send in step.sends
    ]


def exit_reason(steps: list[PlanStep]) -> str:
    actions = [a for a in steps[-1].plan.actions if isinstance(a, Exit)]
    assert actions, steps[-1].plan.trace
    return actions[0].reason


def goals(steps: list[PlanStep]) -> list[str]:
    return [a.goal_id for s in steps for a in s.plan.actions if isinstance(a, ReachGoal)]


# --- seminar follow-up (Japanese) -----------------------------------------------------------

SEMINAR = example("seminar-followup-ja")
SEMINAR_ENTRY = {
    "name": "seminar_attended",
    "properties": {
        "seminar_id": "ma-intro-2026-03",
        "seminar_title": "マーケティングオートメーション入門",
    },
}


def attendee(timezone: str | None, *emails: EmailRecord) -> ContactView:
    attributes: dict[str, Any] = {
        "email": "hanako.yamada@example.jp",
        "last_name": "山田",
        "first_name": "花子",
        "company": "山田商事株式会社",
    }
    if timezone is not None:
        attributes["timezone"] = timezone
    return ContactView(
        attributes=attributes, subscriptions=frozenset({"seminar_followup"}), emails=emails
    )


def test_seminar_for_a_tokyo_contact_sends_on_weekday_mornings_in_tokyo() -> None:
    # attended on Friday evening 19:00 JST; opened the thanks on Monday, clicked the materials
    contact = attendee(
        None,  # no zone on file: the journey falls back to Asia/Tokyo
        EmailRecord("opened", z("2026-03-09T12:00+09:00"), step="thanks"),
        EmailRecord("clicked", z("2026-03-11T10:00+09:00"), step="materials"),
    )

    steps = simulate(
        SEMINAR,
        contact,
        [],
        z("2026-03-06T19:00+09:00"),
        z("2026-04-01T00:00+09:00"),
        entry=SEMINAR_ENTRY,
    )

    assert sends(steps, TOKYO) == [
        ("seminar-thanks-ja", "2026-03-09T09:00+09:00"),  # Monday, window opens
        ("seminar-materials-ja", "2026-03-10T09:00+09:00"),  # a day later, opened → materials
        ("seminar-consult-offer-ja", "2026-03-16T09:00+09:00"),  # timeout on Sunday → Monday
    ]
    assert exit_reason(steps) == "フォローアップ完了"
    subjects = [s.subject for step in steps for s in step.sends]
    assert subjects[1] == "【資料送付】{{ entry.properties.seminar_title }} の講演資料"
    assert steps[-1].contact.scores == {"default": 15}


def test_seminar_meeting_booked_reaches_the_goal_and_exits() -> None:
    booked = EventRecord("meeting_booked", z("2026-03-11T15:00+09:00"), {"slot": "3月12日 14:00"})

    steps = simulate(
        SEMINAR,
        attendee("Asia/Tokyo"),
        [booked],
        z("2026-03-06T19:00+09:00"),
        z("2026-04-01T00:00+09:00"),
        entry=SEMINAR_ENTRY,
    )

    assert sends(steps, TOKYO) == [
        ("seminar-thanks-ja", "2026-03-09T09:00+09:00"),
        ("seminar-thanks-ja", "2026-03-10T09:00+09:00"),  # not opened → the resend
    ]
    assert steps[-1].event == booked
    assert goals(steps) == ["meeting_booked"]
    assert exit_reason(steps) == "goal:meeting_booked"


def test_seminar_for_a_new_york_contact_crosses_spring_forward() -> None:
    # Friday 2026-03-06 19:00 EST; clocks spring forward on Sunday 03-08
    steps = simulate(
        SEMINAR,
        attendee("America/New_York"),
        [],
        z("2026-03-06T19:00-05:00"),
        z("2026-04-01T00:00-04:00"),
        entry=SEMINAR_ENTRY,
    )

    assert sends(steps, NY) == [
        ("seminar-thanks-ja", "2026-03-09T09:00-04:00"),  # Monday 09:00, now EDT
        ("seminar-thanks-ja", "2026-03-10T09:00-04:00"),
    ]
    assert exit_reason(steps) == "フォローアップ完了"
    assert "長期育成" in steps[-1].contact.tags


# --- B2B lead nurture ---------------------------------------------------------------------

B2B = CompiledJourney(example("b2b-lead-nurture"))


def lead(timezone: str, score: float, *emails: EmailRecord) -> ContactView:
    return ContactView(
        attributes={
            "email": "taro.suzuki@example.co.jp",
            "first_name": "太郎",
            "company": "鈴木製作所",
            "timezone": timezone,
        },
        scores={"default": score},
        emails=emails,
    )


def test_b2b_for_a_new_york_lead_crosses_fall_back_and_hands_off() -> None:
    # Thursday 2026-10-29 16:00 EDT; clocks fall back on Sunday 11-01
    contact = lead(
        "America/New_York",
        25,
        EmailRecord("opened", z("2026-10-30T09:00-04:00"), step="welcome"),
        EmailRecord("clicked", z("2026-11-03T10:00-05:00"), step="case_study"),
    )

    steps = simulate(
        B2B, contact, [], z("2026-10-29T16:00-04:00"), z("2026-12-31T00:00-05:00"), entry={}
    )

    templates = sends(steps, NY)
    assert templates == [
        ("nurture-welcome", "2026-10-29T16:00-04:00"),
        ("case-study-fintech", "2026-11-02T08:00-05:00"),  # Saturday → Monday 08:00, now EST
    ]
    assert steps[-1].contact.scores == {"default": 55}  # 25 + 10 form + 20 click
    handoffs = [a for s in steps for a in s.plan.actions if isinstance(a, Handoff)]
    assert [h.pool for h in handoffs] == ["ae-emea"]
    assert goals(steps) == ["sales_accepted"]
    assert exit_reason(steps) == "nurture complete"
    assert steps[-1].contact.attributes["lifecycle_stage"] == "sql"


def test_b2b_for_a_tokyo_lead_without_engagement_goes_to_long_nurture() -> None:
    steps = simulate(
        B2B, lead("Asia/Tokyo", 0), [], z("2026-03-06T20:00+09:00"), z("2026-04-30T00:00+09:00")
    )

    assert sends(steps, TOKYO) == [
        ("nurture-welcome", "2026-03-09T08:00+09:00"),  # Friday evening → Monday 08:00 JST
        ("nurture-welcome-reminder", "2026-03-11T08:00+09:00"),  # not opened after 2 days
    ]
    assert steps[-1].contact.tags == {"long-term-nurture"}
    assert exit_reason(steps) == "nurture complete"


def test_b2b_unsubscribe_exits_at_once() -> None:
    unsubscribed = EmailRecord("unsubscribed", z("2026-03-10T12:00+09:00"))
    event = EventRecord("email_unsubscribed", z("2026-03-10T12:00+09:00"))

    steps = simulate(
        B2B,
        lead("Asia/Tokyo", 0, unsubscribed),
        [event],
        z("2026-03-06T20:00+09:00"),
        z("2026-04-30T00:00+09:00"),
    )

    assert [t for t, _ in sends(steps, TOKYO)] == ["nurture-welcome"]
    assert exit_reason(steps) == "exit_when"
    assert steps[-1].at == event.occurred_at


# --- abandoned cart -------------------------------------------------------------------------

CART = example("abandoned-cart")
CART_ENTRY = {"name": "checkout_started", "properties": {"cart_id": "cart-8812", "item_count": 3}}


def shopper(timezone: str) -> ContactView:
    return ContactView(
        attributes={"email": "shopper@example.com", "timezone": timezone},
        subscriptions=frozenset({"marketing_email"}),
    )


def test_abandoned_cart_for_a_new_york_shopper_respects_quiet_hours() -> None:
    steps = simulate(
        CART,
        shopper("America/New_York"),
        [],
        z("2026-06-15T19:00-04:00"),
        z("2026-06-30T00:00-04:00"),
        entry=CART_ENTRY,
        contact_id="shopper-1",
    )

    sent = sends(steps, NY)
    assert sent[0] == ("cart-reminder", "2026-06-16T08:00-04:00")  # 23:00 is quiet → 08:00
    assert sent[1][0] in ("cart-discount-10", "cart-bestsellers")
    assert sent[1][1] == "2026-06-17T08:00-04:00"  # 20h later is 04:00 → quiet → 08:00
    assert len(sent) == 2
    split = steps[-1].plan.state.assignments["offer_test"]
    assert (split == "discount") == (sent[1][0] == "cart-discount-10")
    assert exit_reason(steps) == "sequence complete"


def test_abandoned_cart_for_a_tokyo_shopper_who_buys_the_same_cart() -> None:
    bought = EventRecord(
        "order_completed", z("2026-06-16T09:30+09:00"), {"cart_id": "cart-8812", "total": 12800}
    )
    other = EventRecord("order_completed", z("2026-06-16T09:00+09:00"), {"cart_id": "cart-1"})

    steps = simulate(
        CART,
        shopper("Asia/Tokyo"),
        [other, bought],
        z("2026-06-15T19:00+09:00"),
        z("2026-06-30T00:00+09:00"),
        entry=CART_ENTRY,
    )

    assert sends(steps, TOKYO) == [("cart-reminder", "2026-06-16T08:00+09:00")]
    assert [s.event for s in steps if s.event] == [other, bought]
    assert goals(steps) == ["recovered"]
    assert exit_reason(steps) == "exit_when"


# --- renewal reminders --------------------------------------------------------------------

RENEWAL = example("renewal-reminders")


def billing_contact(timezone: str, end_date: str) -> tuple[ContactView, dict[str, Any]]:
    subscription = {"id": "sub-4711", "end_date": end_date, "auto_renew": False}
    contact = ContactView(
        attributes={
            "email": "keiri@example.co.jp",
            "role": "billing_contact",
            "account": {"name": "株式会社サンプル", "timezone": timezone},
            "subscription": subscription,
        }
    )
    return contact, {"subscription": dict(subscription)}


def test_renewal_for_a_tokyo_account_sends_30_7_1_days_before_at_nine() -> None:
    contact, entry = billing_contact("Asia/Tokyo", "2026-05-15")

    steps = simulate(
        RENEWAL, contact, [], z("2026-04-15T09:00+09:00"), z("2026-06-01T00:00+09:00"), entry=entry
    )

    assert sends(steps, TOKYO) == [
        ("renewal-30d", "2026-04-15T09:00+09:00"),
        ("renewal-7d", "2026-05-08T09:00+09:00"),
        ("renewal-1d", "2026-05-14T09:00+09:00"),
    ]
    last = [s for step in steps for s in step.sends][-1]
    assert last.frequency_cap is None  # respect: {frequency_cap: false}
    assert exit_reason(steps) == "renewal window handled"


def test_renewal_for_a_new_york_account_crosses_spring_forward() -> None:
    contact, entry = billing_contact("America/New_York", "2026-03-10")

    steps = simulate(
        RENEWAL, contact, [], z("2026-02-08T09:00-05:00"), z("2026-04-01T00:00-04:00"), entry=entry
    )

    assert sends(steps, NY) == [
        ("renewal-30d", "2026-02-09T09:00-05:00"),  # Sunday → Monday
        ("renewal-7d", "2026-03-03T09:00-05:00"),
        ("renewal-1d", "2026-03-09T09:00-04:00"),  # after the clocks sprang forward
    ]


def test_renewal_stops_when_this_subscription_renews() -> None:
    contact, entry = billing_contact("Asia/Tokyo", "2026-05-15")
    renewed = EventRecord(
        "subscription_renewed", z("2026-05-01T10:00+09:00"), {"subscription_id": "sub-4711"}
    )
    earlier_term = EventRecord(
        "subscription_renewed", z("2025-05-01T10:00+09:00"), {"subscription_id": "sub-4711"}
    )
    contact = dataclasses.replace(contact, events=(earlier_term,))

    steps = simulate(
        RENEWAL,
        contact,
        [renewed],
        z("2026-04-15T09:00+09:00"),
        z("2026-06-01T00:00+09:00"),
        entry=entry,
    )

    assert [t for t, _ in sends(steps, TOKYO)] == ["renewal-30d"]
    assert exit_reason(steps) == "exit_when"


# --- the simulator itself -------------------------------------------------------------------


def test_simulation_stops_at_until_and_is_repeatable() -> None:
    contact, entry = billing_contact("Asia/Tokyo", "2026-05-15")
    start, until = z("2026-04-15T09:00+09:00"), z("2026-05-10T00:00+09:00")

    first = simulate(RENEWAL, contact, [], start, until, entry=entry)
    second = simulate(RENEWAL, contact, [], start, until, entry=entry)

    assert first == second
    assert [t for t, _ in sends(first, TOKYO)] == ["renewal-30d", "renewal-7d"]
    assert first[-1].plan.wake_at == z("2026-05-14T09:00+09:00")
    assert not first[-1].plan.exited


def test_simulation_call_cap() -> None:
    contact, entry = billing_contact("Asia/Tokyo", "2026-05-15")

    steps = simulate(
        RENEWAL,
        contact,
        [],
        z("2026-04-15T09:00+09:00"),
        z("2026-06-01T00:00+09:00"),
        entry=entry,
        max_calls=2,
    )

    assert len(steps) == 2
    assert all(isinstance(s.at, datetime) for s in steps)
    assert steps[1].at - steps[0].at > timedelta(days=20)
