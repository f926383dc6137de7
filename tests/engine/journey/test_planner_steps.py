"""Each step kind's plan: branch, send (windows, quiet hours, variants), waits, wait_for, actions."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from engine.errors import InvalidInput
from engine.journey import (
    CallWebhook,
    CapPolicy,
    EmailRecord,
    EventRecord,
    Exit,
    Handoff,
    Notify,
    SendEmail,
    plan,
)
from tests.engine.journey.test_planner_support import (
    NOW,
    enter,
    example,
    journey,
    kinds,
    loose_journey,
    only,
    yamada,
    z,
)

# --- branch ----------------------------------------------------------------------------

ROUTE = journey(
    """\
    start: route
    steps:
      route:
        type: branch
        cases:
          - when: {score: {gte: 60}}
            next: hot
          - when: {tag: 展示会}
            next: warm
        default: cold
      hot: {type: exit, reason: hot}
      warm: {type: exit, reason: warm}
      cold: {type: exit, reason: cold}
    """
)


@pytest.mark.parametrize(
    ("scores", "tags", "expected"),
    [
        ({"default": 60}, frozenset(), "hot"),
        ({"default": 80}, frozenset({"展示会"}), "hot"),  # the first case that holds wins
        ({"default": 10}, frozenset({"展示会"}), "warm"),
        ({}, frozenset(), "cold"),
    ],
)
def test_cases_take_the_first_that_holds_else_default(
    scores: dict[str, float], tags: frozenset[str], expected: str
) -> None:
    contact = dataclasses.replace(yamada(), scores=scores, tags=tags)

    result = plan(ROUTE, enter(ROUTE), contact, NOW)

    assert only(result, Exit).reason == expected
    assert result.trace[0].what == "branch"


@pytest.mark.parametrize(("subscribed", "expected"), [(True, "reminder"), (False, "no_consent")])
def test_if_takes_then_or_else(subscribed: bool, expected: str) -> None:
    spec = example("abandoned-cart")
    state = dataclasses.replace(enter(spec), step="consent")
    topics = frozenset({"marketing_email"}) if subscribed else frozenset()
    contact = dataclasses.replace(yamada(), subscriptions=topics)

    result = plan(spec, state, contact, NOW)

    assert result.trace[0].why.endswith(f"→ {expected}")


# --- send_email: windows, quiet hours, respect -----------------------------------------

WINDOWED = journey(
    """\
    send_window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}
    quiet_hours: {start: "21:00", end: "08:00", on_quiet: defer}
    frequency_cap: {max: 2, per: 7d, scope: journey, on_limit: defer}
    start: thanks
    steps:
      thanks: {type: send_email, template: seminar-thanks-ja, subject: ご参加ありがとうございました, next: done}
      done: {type: exit}
    """
)


@pytest.mark.parametrize(
    ("now", "timezone", "sent", "wake_at"),
    [
        # Monday 12:00 in Tokyo: inside the window
        ("2026-06-15T12:00+09:00", "Asia/Tokyo", True, None),
        # Saturday in Tokyo: Monday 09:00 JST
        ("2026-06-13T12:00+09:00", "Asia/Tokyo", False, "2026-06-15T09:00+09:00"),
        # the same instant is Friday 23:00 in New York: quiet hours, then Monday 09:00 EDT
        ("2026-06-13T12:00+09:00", "America/New_York", False, "2026-06-15T09:00-04:00"),
        # an unknown zone falls back to Tokyo
        ("2026-06-15T12:00+09:00", "Japan/Osaka", True, None),
        # Friday evening in New York before spring forward: Monday 09:00 is EDT
        ("2026-03-06T19:00-05:00", "America/New_York", False, "2026-03-09T09:00-04:00"),
    ],
)
def test_a_send_outside_the_window_waits_for_it_in_the_contact_zone(
    now: str, timezone: str, sent: bool, wake_at: str | None
) -> None:
    result = plan(WINDOWED, enter(WINDOWED, z(now)), yamada(timezone=timezone), z(now))

    assert bool(result.sends) is sent
    assert result.wake_at == (z(wake_at) if wake_at else None)
    if not sent:
        assert result.state.step == "thanks"
        assert result.trace[-1].what == "defer"


def test_a_deferred_send_goes_out_at_the_opening_with_the_same_key() -> None:
    saturday = z("2026-06-13T12:00+09:00")
    deferred = plan(WINDOWED, enter(WINDOWED, saturday), yamada(), saturday)
    assert deferred.wake_at is not None

    woken = plan(WINDOWED, deferred.state, yamada(), deferred.wake_at)

    send = only(woken, SendEmail)
    assert send.idempotency_key == "enr-1:thanks:1"
    assert woken.state.attempts["thanks"] == 1
    assert kinds(woken) == ["SendEmail", "Exit"]


def test_the_frequency_cap_rides_on_the_send_for_the_middleware() -> None:
    result = plan(WINDOWED, enter(WINDOWED), yamada(), NOW)

    assert only(result, SendEmail).frequency_cap == CapPolicy(
        2, timedelta(days=7), "journey", "defer"
    )


def test_the_middleware_can_defer_a_capped_send() -> None:
    spec = journey(
        """\
        frequency_cap: {max: 1, per: 1d}
        start: first
        steps:
          first: {type: score, adjust: 5, next: thanks}
          thanks: {type: send_email, template: t, subject: お知らせ, next: after}
          after: {type: tag, add: [送信済み], next: done}
          done: {type: exit}
        """
    )
    result = plan(spec, enter(spec), yamada(), NOW)
    send = only(result, SendEmail)
    later = NOW + timedelta(hours=6)

    deferred = result.defer(send, later)
    again = plan(spec, deferred.state, yamada(), later)

    assert kinds(deferred) == ["AdjustScore"]
    assert deferred.wake_at == later
    assert deferred.state.step == "thanks"
    assert kinds(again) == ["SendEmail", "Tag", "Exit"]
    assert only(again, SendEmail).idempotency_key == send.idempotency_key


def test_deferring_a_send_of_another_plan_is_refused() -> None:
    result = plan(WINDOWED, enter(WINDOWED), yamada(), NOW)
    stranger = dataclasses.replace(only(result, SendEmail), idempotency_key="other:thanks:1")

    with pytest.raises(InvalidInput):
        result.defer(stranger, NOW)

    assert result.sends


QUIET = """\
quiet_hours: {{start: "21:00", end: "08:00", on_quiet: {on_quiet}}}
start: offer
steps:
  offer:
    type: send_email
    template: cart-discount-10
    subject: 今だけ10%オフ
    {respect}
    next: done
  done: {{type: exit}}
"""


@pytest.mark.parametrize(
    ("local", "on_quiet", "respect", "expected"),
    [
        ("2026-06-15T22:30+09:00", "defer", "", "defer"),
        ("2026-06-15T22:30+09:00", "skip", "", "skip"),
        ("2026-06-16T03:00+09:00", "skip", "", "skip"),
        ("2026-06-15T20:59+09:00", "skip", "", "send"),
        ("2026-06-16T08:00+09:00", "defer", "", "send"),
        ("2026-06-15T22:30+09:00", "skip", "respect: {quiet_hours: false}", "send"),
    ],
)
def test_quiet_hours_defer_or_skip(local: str, on_quiet: str, respect: str, expected: str) -> None:
    spec = journey(QUIET.format(on_quiet=on_quiet, respect=respect))

    result = plan(spec, enter(spec, z(local)), yamada(), z(local))

    outcome = "send" if result.sends else result.trace[0].what
    assert outcome == expected
    if expected == "defer":
        assert result.wake_at == z("2026-06-16T08:00+09:00")
    if expected == "skip":
        assert only(result, Exit) and "quiet hours" in result.trace[0].why


def test_respect_written_on_a_step_overrides_the_defaults() -> None:
    spec = journey(
        """\
        send_window: {days: [mon], start: "09:00", end: "10:00"}
        frequency_cap: {max: 3, per: 7d}
        defaults: {send_email: {from: {email: info@nurture.example.jp}, topic: news, respect: {send_window: false}}}
        start: urgent
        steps:
          urgent:
            type: send_email
            template: renewal-1d
            subject: 明日で契約が終了します
            respect: {frequency_cap: false}
            next: normal
          normal: {type: send_email, template: renewal-7d, subject: 残り7日, next: done}
          done: {type: exit}
        """
    )
    saturday = z("2026-06-13T12:00+09:00")

    result = plan(spec, enter(spec, saturday), yamada(), saturday)

    urgent, normal = result.sends
    assert urgent.frequency_cap is None
    assert normal.frequency_cap is not None
    assert (urgent.topic, normal.topic) == ("news", "news")


# --- send_email: variants ----------------------------------------------------------------

VARIANTS = journey(
    """\
    start: case_study
    steps:
      case_study:
        type: send_email
        template: case-study
        subject: 導入事例のご紹介
        reply_to: sales@nurture.example.jp
        topic: newsletter
        variants:
          - {id: A, weight: 50}
          - {id: B, weight: 50, subject: 導入期間を40%短縮した事例, template: case-study-b}
        next: done
      done: {type: exit}
    """
)


def test_variants_override_subject_and_template_and_stick_to_the_contact() -> None:
    seen: dict[str, SendEmail] = {}
    for n in range(40):
        state = enter(VARIANTS, contact_id=f"contact-{n}", enrollment_id=f"enr-{n}")
        send = only(plan(VARIANTS, state, yamada(), NOW), SendEmail)
        seen.setdefault(send.variant or "", send)
        again = enter(VARIANTS, contact_id=f"contact-{n}", enrollment_id="another-enrollment")
        assert only(plan(VARIANTS, again, yamada(), NOW), SendEmail).variant == send.variant

    assert (seen["A"].subject, seen["A"].template) == ("導入事例のご紹介", "case-study")
    assert (seen["B"].subject, seen["B"].template) == ("導入期間を40%短縮した事例", "case-study-b")
    assert seen["A"].reply_to == "sales@nurture.example.jp"
    assert seen["A"].topic == "newsletter"


def test_a_recorded_variant_is_kept() -> None:
    for variant in ("A", "B"):
        state = dataclasses.replace(enter(VARIANTS), assignments={"case_study": variant})

        result = plan(VARIANTS, state, yamada(), NOW)

        assert only(result, SendEmail).variant == variant
        assert result.state.assignments["case_study"] == variant


# --- wait ------------------------------------------------------------------------------

UNTIL = """\
start: pause
steps:
  pause:
    type: wait
    {until}
    {extra}
    next: later
  later: {{type: exit, reason: later}}
  missed: {{type: exit, reason: missed}}
"""


@pytest.mark.parametrize(
    ("until", "extra", "attributes", "expected"),
    [
        # an absolute instant in the future: wait for it
        ('until: "2026-12-24T09:00:00+09:00"', "", {}, "2026-12-24T09:00+09:00"),
        # a date or naive time is read in the contact's zone
        ('until: "2026-12-24"', "", {}, "2026-12-24T00:00+09:00"),
        (
            'until: "2026-12-24T09:00:00"',
            "",
            {"timezone": "America/New_York"},
            "2026-12-24T09:00-05:00",
        ),
        # an attribute date minus an offset, at a local time
        (
            'until: {attribute: subscription.end_date, offset: -7d, at: "09:00"}',
            "",
            {"subscription": {"end_date": "2026-07-31"}},
            "2026-07-24T09:00+09:00",
        ),
        # past: if_past names a step
        ('until: "2026-01-01"', "if_past: missed", {}, "missed"),
        # past: continue (the default)
        ('until: "2026-01-01"', "", {}, "later"),
        ('until: "2026-01-01"', "if_past: continue", {}, "later"),
        # a missing attribute is treated as past
        ("until: {attribute: subscription.end_date}", "if_past: missed", {}, "missed"),
        # a duration, aligned to the next Monday 10:00 local
        ("duration: 1d", 'align: {at: "10:00", days: [mon]}', {}, "2026-06-22T10:00+09:00"),
        # aligned to a time only: the next 10:00 after two hours from Monday 12:00
        ("duration: 2h", 'align: {at: "10:00"}', {}, "2026-06-16T10:00+09:00"),
    ],
)
def test_wait_targets(until: str, extra: str, attributes: dict[str, Any], expected: str) -> None:
    spec = loose_journey(UNTIL.format(until=until, extra=extra))

    result = plan(spec, enter(spec), yamada(**attributes), NOW)

    if expected in ("later", "missed"):
        assert only(result, Exit).reason == expected
        assert result.trace[0].what == "if_past"
    else:
        assert result.wake_at == z(expected)
        assert result.state.wait_started_at == NOW


def test_a_wait_keeps_its_wake_time_when_the_attribute_changes() -> None:
    spec = loose_journey(UNTIL.format(until="until: {attribute: renew_on}", extra=""))
    waiting = plan(spec, enter(spec), yamada(renew_on="2026-07-01"), NOW).state

    result = plan(spec, waiting, yamada(renew_on="2026-09-01"), NOW + timedelta(days=1))

    assert result.wake_at == z("2026-07-01T00:00+09:00")


# --- wait_for --------------------------------------------------------------------------

CART = example("abandoned-cart")
CART_ENTRY = {"name": "checkout_started", "properties": {"cart_id": "cart-7", "item_count": 3}}


def _cart_waiting() -> Any:
    return plan(CART, enter(CART, entry=CART_ENTRY), yamada(), NOW)


def test_wait_for_publishes_what_it_waits_on_with_entry_refs_resolved() -> None:
    result = _cart_waiting()

    assert result.wake_at == NOW + timedelta(hours=4)
    assert result.waiting_on is not None
    assert result.waiting_on.event == "order_completed"
    assert result.waiting_on.match == {"prop": "cart_id", "eq": "cart-7"}
    assert result.waiting_on.since == NOW


@pytest.mark.parametrize(
    ("event", "after", "expected"),
    [
        # wait_for and exit_when both watch this purchase: exit_when is checked first
        (
            EventRecord("order_completed", NOW, {"cart_id": "cart-7"}),
            timedelta(hours=1),
            "exit_when",
        ),
        # another cart's purchase: keep waiting
        (EventRecord("order_completed", NOW, {"cart_id": "cart-9"}), timedelta(hours=1), None),
        # another event: keep waiting
        (EventRecord("page_viewed", NOW, {"cart_id": "cart-7"}), timedelta(hours=1), None),
    ],
)
def test_wait_for_reacts_to_the_event(
    event: EventRecord, after: timedelta, expected: str | None
) -> None:
    event = dataclasses.replace(event, occurred_at=NOW + after)

    result = plan(CART, _cart_waiting().state, yamada(), NOW + after, event=event)

    if expected is None:
        assert result.actions == ()
        assert result.wake_at == NOW + timedelta(hours=4)
    else:
        assert only(result, Exit).reason == expected


WAIT_MEETING = journey(
    """\
    start: wait_meeting
    steps:
      wait_meeting:
        type: wait_for
        event: meeting_booked
        match: {prop: seminar_id, eq: {ref: entry.properties.seminar_id}}
        timeout: 5d
        {check}
        on_event: booked
        on_timeout: follow_up
      booked: {type: exit, reason: 商談予約済み}
      follow_up: {type: exit, reason: フォロー}
    """.replace("{check}", "check_existing: since_entry")
)
SEMINAR_ENTRY = {"name": "seminar_attended", "properties": {"seminar_id": "ma-intro-2026"}}


def _booked(at: Any, seminar: str = "ma-intro-2026") -> EventRecord:
    return EventRecord("meeting_booked", at, {"seminar_id": seminar})


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # booked an hour after entry, before the wait started: since_entry counts it
        ((_booked(NOW - timedelta(hours=1)),), "商談予約済み"),
        # booked before entry: does not count
        ((_booked(NOW - timedelta(days=2)),), None),
        # booked for another seminar: does not match
        ((_booked(NOW - timedelta(hours=1), "other"),), None),
    ],
)
def test_check_existing_counts_events_since_entry(
    history: tuple[EventRecord, ...], expected: str | None
) -> None:
    entered = NOW - timedelta(hours=2)
    state = enter(WAIT_MEETING, entered, entry=SEMINAR_ENTRY)
    contact = dataclasses.replace(yamada(), events=history)

    result = plan(WAIT_MEETING, state, contact, NOW)

    if expected is None:
        assert result.wake_at == NOW + timedelta(days=5)
        assert result.waiting_on is not None and result.waiting_on.since == entered
    else:
        assert only(result, Exit).reason == expected


def test_wait_for_times_out_at_the_deadline() -> None:
    waiting = plan(WAIT_MEETING, enter(WAIT_MEETING, entry=SEMINAR_ENTRY), yamada(), NOW).state

    early = plan(WAIT_MEETING, waiting, yamada(), NOW + timedelta(days=4))
    late = plan(WAIT_MEETING, waiting, yamada(), NOW + timedelta(days=5))

    assert early.actions == ()
    assert only(late, Exit).reason == "フォロー"
    assert late.trace[0].what == "timeout"


def test_an_event_after_the_deadline_is_too_late_even_if_processed_first() -> None:
    waiting = plan(WAIT_MEETING, enter(WAIT_MEETING, entry=SEMINAR_ENTRY), yamada(), NOW).state
    late = _booked(NOW + timedelta(days=5, minutes=1))

    result = plan(WAIT_MEETING, waiting, yamada(), late.occurred_at, event=late)

    assert only(result, Exit).reason == "フォロー"


def test_an_event_recorded_while_waiting_is_found_at_the_next_call() -> None:
    waiting = plan(WAIT_MEETING, enter(WAIT_MEETING, entry=SEMINAR_ENTRY), yamada(), NOW).state
    contact = dataclasses.replace(yamada(), events=(_booked(NOW + timedelta(days=1)),))

    result = plan(WAIT_MEETING, waiting, contact, NOW + timedelta(days=5))

    assert only(result, Exit).reason == "商談予約済み"


def test_timeout_never_has_no_wake_time() -> None:
    spec = journey(
        """\
        start: wait_reply
        steps:
          wait_reply: {type: wait_for, event: replied, timeout: never, on_event: done}
          done: {type: exit}
        """
    )

    result = plan(spec, enter(spec), yamada(), NOW)

    assert result.wake_at is None
    assert result.waiting_on is not None and result.waiting_on.match is None
    assert result.state.status == "waiting"


# --- actions for colleagues and systems -----------------------------------------------------


def test_handoff_carries_assignment_task_and_notification() -> None:
    spec = example("seminar-followup-ja")
    state = dataclasses.replace(enter(spec), step="handoff_sales")

    result = plan(spec, state, yamada(), NOW)

    handoff = only(result, Handoff)
    assert (handoff.strategy, handoff.pool) == ("territory", "inside-sales-jp")
    assert dict(handoff.fallback) == {"user": "sales-manager@nurture.example.jp"}
    assert (
        handoff.task_title
        == "セミナー参加者フォロー: {{ contact.company }} {{ contact.last_name }} 様"
    )
    assert handoff.task_due == NOW + timedelta(days=1)
    assert handoff.notify == {
        "channel": "email",
        "message": "セミナー参加者が営業対応の基準に達しました",
    }
    assert handoff.idempotency_key == "enr-1:handoff_sales:1"


def test_notify_and_webhook_actions() -> None:
    spec = journey(
        """\
        start: tell
        steps:
          tell: {type: notify, to: {owner_of: contact}, channel: slack, message: 資料請求がありました, next: call}
          call:
            type: webhook
            url: https://hooks.nurture.example.jp/crm
            headers: {X-Source: nurture}
            body: {event: 資料請求}
            idempotency_key: "{{ entry.properties.seminar_id }}"
            on_failure: done
            next: done
          done: {type: exit}
        """
    )

    result = plan(spec, enter(spec), yamada(), NOW)

    notify, webhook = only(result, Notify), only(result, CallWebhook)
    assert dict(notify.to) == {"owner_of": "contact"}
    assert (notify.channel, notify.message) == ("slack", "資料請求がありました")
    assert (webhook.method, webhook.url) == ("POST", "https://hooks.nurture.example.jp/crm")
    assert webhook.timeout == timedelta(seconds=10)
    assert webhook.key_template == "{{ entry.properties.seminar_id }}"
    assert webhook.idempotency_key == "enr-1:call:1"
    assert webhook.on_failure == "done"


def test_email_conditions_see_sends_of_the_same_call() -> None:
    spec = journey(
        """\
        start: thanks
        steps:
          thanks: {type: send_email, template: t, subject: ありがとう, next: check}
          check: {type: branch, if: {email: sent, step: thanks}, then: done, else: oops}
          done: {type: exit, reason: ok}
          oops: {type: exit, reason: oops}
        """
    )
    contact = dataclasses.replace(yamada(), emails=(EmailRecord("opened", NOW, step="old"),))

    result = plan(spec, enter(spec), contact, NOW)

    assert only(result, Exit).reason == "ok"
