"""The simulator: triggers, re-entry, runtime rules (cap, consent), explain, and the contract."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.errors import InvalidInput
from engine.journey import (
    Catalog,
    ContactView,
    EventRecord,
    Expectation,
    JourneySpec,
    check_expectations,
    contact_from_json,
    event_from_json,
    simulate_journey,
    validate_journey,
)
from engine.journey.simulation import ACTIONS, next_cron_fire, parse_until, render_preview
from tests.engine.journey.test_planner_support import example, z

TOKYO = ZoneInfo("Asia/Tokyo")
NY = ZoneInfo("America/New_York")


def spec(body: str) -> JourneySpec:
    """Validate a whole journey document written for one test."""
    text = "dsl: journey/v1\nid: sim-test\nname: シミュレーション\nversion: 1\n"
    text += "defaults: {send_email: {from: {name: Acme, email: hi@acme.io}}}\n"
    report = validate_journey(text + textwrap.dedent(body), "sim-test.yaml", Catalog())
    assert report.spec is not None, report.format()
    return report.spec


TWO_SENDS = """\
triggers: [{event: signed_up}]
timezone: {attribute: timezone, fallback: Asia/Tokyo}
start: first
steps:
  first: {type: send_email, template: one, subject: "一通目", next: pause}
  pause: {type: wait, duration: 1d, next: second}
  second: {type: send_email, template: two, subject: "二通目", next: done}
  done: {type: exit}
"""
SIGNED_UP = EventRecord("signed_up", z("2026-06-15T10:00+09:00"))


def actions(simulation) -> list[tuple[str, str, str]]:
    """Return ``(local time, step, action)`` per entry."""
    return [(e.local.isoformat(timespec="minutes"), e.step, e.action) for e in simulation.entries]


def run(journey: JourneySpec, *events: EventRecord, contact=None, days=30, **kw):
    start = min((e.occurred_at for e in events), default=z("2026-06-15T00:00+09:00"))
    return simulate_journey(
        journey, contact or ContactView(), events, start, start + timedelta(days=days), **kw
    )


# --- the public contract ------------------------------------------------------------------


def test_entries_follow_the_contract_in_time_order() -> None:
    simulation = run(spec(TWO_SENDS), SIGNED_UP)

    payload = simulation.to_json()
    assert [(p["step"], p["action"]) for p in payload] == [
        ("first", "send_email"),
        ("pause", "wait"),
        ("second", "send_email"),
        ("done", "exit"),
    ]
    for item in payload:
        assert set(item) >= {"at", "step", "action", "detail"}
        assert item["action"] in ACTIONS
        assert datetime.fromisoformat(item["at"]).utcoffset() is not None
    times = [datetime.fromisoformat(p["at"]) for p in payload]
    assert times == sorted(times)
    assert payload[0]["at"] == "2026-06-15T10:00:00+09:00"
    assert payload[0]["detail"]["subject"] == "一通目"
    assert payload[1]["detail"]["until"] == "2026-06-16T10:00:00+09:00"


def test_a_deferred_send_is_listed_when_it_goes_out() -> None:
    journey = spec(
        TWO_SENDS + 'send_window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}\n'
    )
    saturday = EventRecord("signed_up", z("2026-06-13T20:00+09:00"))

    simulation = run(journey, saturday)

    assert actions(simulation)[:2] == [
        ("2026-06-13T20:00+09:00", "first", "wait"),
        ("2026-06-15T09:00+09:00", "first", "send_email"),  # Monday, when the window opens
    ]
    assert simulation.entries[0].detail["reason"] == "send_window"


# --- triggers and entry rules --------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "events", "expected"),
    [
        ("{reentry: never}", 2, ["send_email", "skip"]),
        ("{reentry: after_exit}", 2, ["send_email", "send_email"]),
        ("{reentry: after_exit, cooldown: 30d}", 2, ["send_email", "skip"]),
        ("{reentry: always, max_entries: 1}", 2, ["send_email", "skip"]),
    ],
)
def test_reentry_rules(entry: str, events: int, expected: list[str]) -> None:
    journey = spec(
        f"""\
        triggers: [{{event: signed_up}}]
        entry: {entry}
        start: hello
        steps:
          hello: {{type: send_email, template: hello, subject: Hello, next: done}}
          done: {{type: exit}}
        """
    )
    signups = [
        EventRecord("signed_up", z("2026-06-15T10:00+09:00") + timedelta(days=3 * i))
        for i in range(events)
    ]

    simulation = run(journey, *signups)

    assert [e.action for e in simulation.entries if e.action != "exit"] == expected


def test_event_trigger_where_and_key() -> None:
    journey = spec(
        """\
        triggers:
          - {event: checkout_started, where: {prop: value, gte: 20}, key: properties.cart_id}
        entry: {reentry: always, concurrent: per_key}
        start: hold
        steps:
          hold: {type: wait, duration: 1d, next: done}
          done: {type: exit}
        """
    )
    at = z("2026-06-15T10:00+09:00")
    events = [
        EventRecord("checkout_started", at, {"cart_id": "a", "value": 5}),  # under 20
        EventRecord("checkout_started", at + timedelta(hours=1), {"cart_id": "a", "value": 25}),
        EventRecord("checkout_started", at + timedelta(hours=2), {"cart_id": "b", "value": 25}),
        EventRecord("checkout_started", at + timedelta(hours=3), {"cart_id": "a", "value": 25}),
    ]

    simulation = run(journey, *events)

    assert simulation.enrollments == 2
    skipped = [e for e in simulation.entries if e.action == "skip"]
    assert [e.detail["reason"] for e in skipped] == ["already_enrolled"]
    assert skipped[0].at == at + timedelta(hours=3)


def test_date_trigger_fires_at_the_local_time_and_late_entry_skip() -> None:
    journey = spec(
        """\
        triggers: [{date: {attribute: birthday, offset: -1d, at: "10:00"}}]
        timezone: {attribute: timezone, fallback: UTC}
        start: hello
        steps:
          hello: {type: send_email, template: hello, subject: Happy birthday, next: done}
          done: {type: exit}
        """
    )
    contact = ContactView(attributes={"birthday": "2026-07-01", "timezone": "America/New_York"})
    start = z("2026-06-01T00:00Z")

    fired = simulate_journey(journey, contact, [], start, start + timedelta(days=60))
    late = simulate_journey(journey, contact, [], z("2026-07-05T00:00Z"), z("2026-08-01T00:00Z"))

    assert actions(fired)[0] == ("2026-06-30T10:00-04:00", "hello", "send_email")
    assert [(e.action, e.detail["reason"]) for e in late.entries] == [("skip", "late_entry")]
    assert late.enrollments == 0


def test_schedule_trigger_enrolls_at_the_first_fire_the_audience_holds() -> None:
    journey = spec(
        """\
        triggers: [{schedule: {cron: "30 8 * * MON", timezone: Asia/Tokyo}}]
        audience: {attr: plan, eq: trial}
        start: hello
        steps:
          hello: {type: send_email, template: hello, subject: Hi, next: done}
          done: {type: exit}
        """
    )
    trial = ContactView(attributes={"plan": "trial"})
    paid = ContactView(attributes={"plan": "paid"})
    start = z("2026-06-10T00:00+09:00")  # a Wednesday

    enrolled = simulate_journey(journey, trial, [], start, start + timedelta(days=30))
    refused = simulate_journey(journey, paid, [], start, start + timedelta(days=30))

    assert enrolled.entries[0].at == z("2026-06-15T08:30+09:00")
    assert enrolled.enrollments == 1
    assert [e.detail["reason"] for e in refused.entries] == ["audience"]  # once, not weekly
    assert refused.enrollments == 0


@pytest.mark.parametrize(
    ("cron", "after", "zone", "expected"),
    [
        ("0 9 * * MON", "2026-06-10T00:00Z", "UTC", "2026-06-15T09:00Z"),
        ("0 9 * * MON", "2026-06-15T09:00Z", "UTC", "2026-06-15T09:00Z"),
        ("*/15 * * * *", "2026-06-15T09:01Z", "UTC", "2026-06-15T09:15Z"),
        ("0 0 1,15 * *", "2026-06-02T00:00Z", "UTC", "2026-06-15T00:00Z"),
        ("0 0 13 * FRI", "2026-06-01T00:00Z", "UTC", "2026-06-05T00:00Z"),  # either day field
        ("30 2 * * *", "2026-03-08T00:00-05:00", "America/New_York", "2026-03-08T03:00-04:00"),
        ("0 9 * JAN 1-5", "2026-06-01T00:00Z", "Asia/Tokyo", "2027-01-01T09:00+09:00"),
        ("0 0 30 2 *", "2026-01-01T00:00Z", "UTC", None),
    ],
)
def test_next_cron_fire(cron: str, after: str, zone: str, expected: str | None) -> None:
    found = next_cron_fire(cron, z(after), ZoneInfo(zone))

    assert found == (z(expected) if expected else None)


# --- what the runtime decides: frequency cap and consent ------------------------------------


@pytest.mark.parametrize(
    ("on_limit", "expected"),
    [
        ("skip", [("first", "send_email"), ("pause", "wait"), ("second", "skip")]),
        ("defer", [("first", "send_email"), ("pause", "wait"), ("second", "wait")]),
    ],
)
def test_frequency_cap(on_limit: str, expected: list[tuple[str, str]]) -> None:
    journey = spec(TWO_SENDS + f"frequency_cap: {{max: 1, per: 7d, on_limit: {on_limit}}}\n")

    simulation = run(journey, SIGNED_UP)

    assert [(e.step, e.action) for e in simulation.entries][:3] == expected
    third = simulation.entries[2]
    assert third.detail["reason"] == "frequency_cap"
    if on_limit == "defer":
        assert third.detail["until"] == z("2026-06-22T10:00+09:00")
        sends = [e for e in simulation.entries if e.action == "send_email"]
        assert [e.at for e in sends] == [SIGNED_UP.occurred_at, z("2026-06-22T10:00+09:00")]


def test_a_send_without_consent_for_its_topic_is_skipped() -> None:
    journey = spec(TWO_SENDS.replace('subject: "二通目"', 'subject: "二通目", topic: promo'))

    simulation = run(journey, SIGNED_UP)
    consented = run(journey, SIGNED_UP, contact=ContactView(subscriptions=frozenset({"promo"})))

    second = [e for e in simulation.entries if e.step == "second"]
    assert [(e.action, e.detail["reason"]) for e in second] == [("skip", "no_consent")]
    assert "second" in {e.step for e in consented.entries if e.action == "send_email"}


# --- explain -------------------------------------------------------------------------------


def test_explain_says_why_a_branch_went_the_other_way() -> None:
    steps = run(
        example("abandoned-cart"),
        EventRecord(
            "checkout_started", z("2026-06-15T10:00+09:00"), {"cart_id": "c1", "cart_value": 50}
        ),
        contact=ContactView(attributes={"timezone": "Asia/Tokyo"}),
        explain=True,
    )

    consent = next(e for e in steps.entries if e.step == "consent")
    assert consent.detail["to"] == "no_consent"
    assert consent.detail["explain"] == [
        {
            "condition": "subscribed: marketing_email",
            "holds": False,
            "why": "not subscribed to 'marketing_email' (no consent)",
        }
    ]
    not_reached = {
        e.step: e.detail["why"] for e in steps.entries if e.detail.get("reason") == "not_reached"
    }
    assert "'consent' went to 'no_consent'" in not_reached["reminder"]
    assert "bought_fast" in not_reached


def test_explain_names_the_audience_leaf_that_failed() -> None:
    simulation = run(
        example("b2b-lead-nurture"),
        EventRecord("form_submitted", z("2026-06-15T10:00+09:00"), {"form_id": "demo-request"}),
        contact=ContactView(attributes={"email": "a@b.co", "lifecycle_stage": "customer"}),
        explain=True,
    )

    skip = simulation.entries[0]
    assert (skip.action, skip.detail["reason"]) == ("skip", "audience")
    assert {
        "condition": "attr: lifecycle_stage, in: [customer, sql]",
        "holds": True,
        "negated": True,
        "why": "'lifecycle_stage' is \"customer\"",
    } in skip.detail["explain"]


def test_preview_fills_contact_and_entry_placeholders() -> None:
    contact = ContactView(attributes={"last_name": "山田"}, entry={"properties": {"title": "入門"}})

    text = render_preview(
        "{{ contact.last_name }} 様 {{ entry.properties.title }} {{ contact.x }}", contact
    )

    assert text == "山田 様 入門 {{ contact.x }}"


# --- input ---------------------------------------------------------------------------------


def test_contact_from_json_merges_fields_and_attributes() -> None:
    contact, contact_id = contact_from_json(
        {
            "id": 42,
            "email": "a@example.jp",
            "timezone": "Asia/Tokyo",
            "attributes": {"plan": "trial", "email": "b@example.jp"},
            "tags": ["vip"],
            "subscriptions": ["news"],
            "score": 30,
            "emails": [{"activity": "opened", "at": "2026-06-15T10:00+09:00", "step": "hi"}],
            "events": [{"type": "order_completed", "occurred_at": "2026-01-01T00:00Z"}],
        }
    )

    assert contact_id == "42"
    assert contact.attributes == {
        "email": "b@example.jp",
        "timezone": "Asia/Tokyo",
        "plan": "trial",
    }
    assert contact.tags == {"vip"} and contact.subscriptions == {"news"}
    assert contact.scores == {"default": 30}
    assert contact.emails[0].step == "hi"
    assert contact.events[0].name == "order_completed"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "a contact is a JSON object"),
        ({"attributes": []}, "'attributes' must be an object"),
        ({"score": "high"}, "'score' must be a number"),
        ({"tags": "vip"}, "'tags' must be a list"),
        ({"emails": [{"activity": "read", "at": "2026-01-01T00:00Z"}]}, "emails[0].activity"),
    ],
)
def test_contact_from_json_errors(data: object, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        contact_from_json(data)

    assert message in caught.value.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"occurred_at": "2026-01-01T00:00Z"}, "'type' (the event name) is missing"),
        ({"type": "x"}, "'occurred_at' is missing"),
        ({"type": "x", "occurred_at": "yesterday"}, "is not an ISO-8601 date-time"),
        ({"type": "x", "occurred_at": "2026-01-01T09:00"}, "needs a UTC offset"),
        ({"type": "x", "occurred_at": "2026-01-01T09:00Z", "properties": 3}, "'properties'"),
        ({"type": "x", "occurred_at": "2026-01-01T09:00Z", "when": 1}, "unknown field 'when'"),
    ],
)
def test_event_from_json_errors(data: object, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        event_from_json(data, "events.jsonl:3")

    assert caught.value.message.startswith("events.jsonl:3")
    assert message in caught.value.message


def test_until_is_a_time_a_duration_or_90_days() -> None:
    start = z("2026-06-15T00:00Z")

    assert parse_until(None, start) == start + timedelta(days=90)
    assert parse_until("60d", start) == start + timedelta(days=60)
    assert parse_until("2026-07-01T00:00+09:00", start) == z("2026-06-30T15:00Z")
    with pytest.raises(InvalidInput):
        parse_until("2026-01-01T00:00Z", start)


# --- expectations --------------------------------------------------------------------------


def test_expectations_match_in_order_with_detail_subsets() -> None:
    simulation = run(spec(TWO_SENDS), SIGNED_UP)
    first = Expectation.from_json({"action": "send_email", "detail": {"template": "one"}})
    second = Expectation.from_json({"action": "send_email", "step": "second", "within": "2d"})
    late = Expectation.from_json({"action": "send_email", "step": "second", "within": "12h"})
    never = Expectation.from_json({"action": "skip"})
    exit_ = Expectation.from_json({"action": "exit", "at": "2026-06-16T10:00:00+09:00"})

    assert check_expectations(simulation, [first, second, exit_], [never]) == []
    assert len(check_expectations(simulation, [second, first])) == 1  # out of order
    assert "did not happen" in check_expectations(simulation, [late])[0]
    assert "happened" in check_expectations(simulation, [], [first])[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "sent"}, "is not one of"),
        ({"detail": {}}, "name at least an 'action' or a 'step'"),
        ({"action": "exit", "when": 1}, "unknown key 'when'"),
        ({"action": "exit", "within": "1 month"}, "expect.within"),
    ],
)
def test_expectation_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Expectation.from_json(data)

    assert message in caught.value.message
