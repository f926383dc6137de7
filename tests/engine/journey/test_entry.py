"""Entry rules: trigger where, audience, re-entry, per-key concurrency, cooldown, max_entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.journey import ContactView, EventRecord, validate_journey
from engine.journey.entry import EntryRules, PriorEnrollment, correlation_key

JOURNEYS = Path(__file__).parents[3] / "journeys"
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def rules(name: str) -> EntryRules:
    report = validate_journey((JOURNEYS / f"{name}.yaml").read_text(encoding="utf-8"), name)
    assert report.spec is not None
    return EntryRules(report.spec)


def cart(cart_id: str, value: float) -> EventRecord:
    return EventRecord(
        "checkout_started", NOW, {"cart_id": cart_id, "cart_value": value, "item_count": 2}
    )


CART = rules("abandoned-cart")
B2B = rules("b2b-lead-nurture")
LEAD = ContactView(
    attributes={"email": "hanako@example.jp", "lifecycle_stage": "lead", "last_name": "佐藤"}
)


def test_other_events_are_not_for_this_journey():
    assert CART.on_event(LEAD, EventRecord("page_viewed", NOW, {}), [], NOW) is None
    assert CART.events == {"checkout_started"}


@pytest.mark.parametrize(
    ("event", "prior", "enter", "reason"),
    [
        (cart("c1", 42.0), [], True, "entered"),
        (cart("c1", 5.0), [], False, "the trigger's where does not hold"),
        # one live enrollment per cart, but another cart may run beside it
        (
            cart("c1", 42.0),
            [PriorEnrollment('["c1"]', NOW - timedelta(hours=20), None)],
            False,
            "still running",
        ),
        (
            cart("c2", 42.0),
            [PriorEnrollment('["c1"]', NOW - timedelta(hours=20), None)],
            True,
            "entered",
        ),
        # cooldown (12h) counts from the last entry of the same cart for reentry: always
        (
            cart("c2", 42.0),
            [PriorEnrollment('["c1"]', NOW - timedelta(hours=2), NOW - timedelta(hours=1))],
            True,
            "entered",
        ),
        (
            cart("c1", 42.0),
            [PriorEnrollment('["c1"]', NOW - timedelta(hours=13), NOW - timedelta(hours=1))],
            True,
            "entered",
        ),
        (
            cart("c1", 42.0),
            [PriorEnrollment('["c1"]', NOW - timedelta(hours=2), NOW - timedelta(hours=1))],
            False,
            "cooldown",
        ),
    ],
)
def test_abandoned_cart_entry(event, prior, enter, reason):
    decision = CART.on_event(LEAD, event, prior, NOW)
    assert decision is not None
    assert decision.enter is enter
    assert reason in decision.reason
    assert decision.key == correlation_key(["properties.cart_id"], decision.entry)
    assert decision.entry["properties"]["cart_id"] == event.properties["cart_id"]


FORM = EventRecord("form_submitted", NOW, {"form_id": "demo-request"})


@pytest.mark.parametrize(
    ("contact", "prior", "enter", "reason"),
    [
        (LEAD, [], True, "entered"),
        (
            ContactView(attributes={"email": "x@example.jp", "lifecycle_stage": "customer"}),
            [],
            False,
            "audience",
        ),
        (LEAD, [PriorEnrollment("", NOW - timedelta(days=5), None)], False, "still running"),
        # after_exit: the 90-day cooldown counts from the exit, not the entry
        (
            LEAD,
            [PriorEnrollment("", NOW - timedelta(days=200), NOW - timedelta(days=30))],
            False,
            "cooldown",
        ),
        (
            LEAD,
            [PriorEnrollment("", NOW - timedelta(days=200), NOW - timedelta(days=91))],
            True,
            "entered",
        ),
        (
            LEAD,
            [
                PriorEnrollment(
                    "", NOW - timedelta(days=900 - 300 * i), NOW - timedelta(days=800 - 300 * i)
                )
                for i in range(3)
            ],
            False,
            "max_entries",
        ),
    ],
)
def test_b2b_entry(contact, prior, enter, reason):
    decision = B2B.on_event(contact, FORM, prior, NOW)
    assert decision is not None
    assert (decision.enter, decision.key) == (enter, "")
    assert reason in decision.reason


def test_correlation_key_of_several_paths_and_missing_values():
    document = {"subscription": {"id": "S-1", "end_date": "2027-03-31"}}
    assert (
        correlation_key(["subscription.id", "subscription.end_date"], document)
        == '["S-1","2027-03-31"]'
    )
    assert correlation_key(["subscription.plan"], document) == "[null]"
    assert correlation_key(None, document) == ""
