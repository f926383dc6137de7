"""Frequency caps across journeys and consent, applied by the runtime at plan time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.journey import EnrollmentState, validate_journey
from engine.runtime.advance import advance
from engine.runtime.journeys import CompiledJourneys
from engine.store.models import (
    Enrollment,
    Journey,
    JourneyVersion,
    Message,
    OutboxMessage,
    Subscription,
)
from tests.engine.runtime.test_advance import NOW, lead

PROMO = """\
dsl: journey/v1
id: promo
name: 冬のキャンペーン
version: 1
triggers: [{event: promo_start}]
frequency_cap: {max: 1, per: 7d, scope: global, on_limit: ON_LIMIT}
defaults: {send_email: {from: {name: Acme, email: hello@acme.io}}}
start: offer
steps:
  offer: {type: send_email, template: winter-offer, subject: "{{ contact.last_name }} 様へ冬のご案内", topic: TOPIC, next: done}
  done: {type: exit, reason: offered}
"""


def setup(database, *, on_limit: str, topic: str, subscribed: bool, sent_before: bool) -> int:
    source = PROMO.replace("ON_LIMIT", on_limit).replace("TOPIC", topic)
    spec = validate_journey(source, "promo.yaml").spec
    assert spec is not None
    with database.unit_of_work() as session:
        session.add(
            Journey(
                id="promo",
                name=spec.name,
                status="active",
                active_version=1,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        session.add(
            JourneyVersion(
                journey_id="promo",
                version=1,
                source=source,
                spec={},
                checksum="x",
                published_at=NOW,
                published_by="t",
            )
        )
        contact = lead(session, "kei@example.jp", "高橋")
        if subscribed:
            session.add(
                Subscription(
                    contact_id=contact.id,
                    topic="winter",
                    subscribed=True,
                    changed_at=NOW,
                    source="form",
                )
            )
        if sent_before:  # another journey mailed this contact yesterday
            session.add(
                Message(
                    uid="u-1",
                    message_id="<u-1@x>",
                    idempotency_key="other:1",
                    contact_id=contact.id,
                    journey_id="welcome",
                    template="w",
                    status="sent",
                    queued_at=NOW - timedelta(days=1),
                    sent_at=NOW - timedelta(days=1),
                )
            )
        row = Enrollment(
            journey_id="promo",
            version=1,
            contact_id=contact.id,
            key="",
            status="active",
            step="offer",
            wake_at=NOW,
            entry={},
            state={},
            steps_taken=0,
            entered_at=NOW,
            updated_at=NOW,
        )
        session.add(row)
        session.flush()
        row.state = EnrollmentState.enter(
            spec, enrollment_id=str(row.id), contact_id=str(contact.id), entered_at=NOW
        ).to_json()
        return row.id


def run(database, enrollment_id, at=NOW):
    with database.unit_of_work() as session:
        return advance(
            session, [enrollment_id], now=at, journeys=CompiledJourneys(), message_domain="x.jp"
        )


def promo_messages(database):
    with database.sessions() as session:
        return session.execute(
            select(Message.status, Message.error).where(Message.journey_id == "promo")
        ).all()


def test_a_cap_counts_sends_from_other_journeys_and_skips(database):
    enrollment_id = setup(
        database, on_limit="skip", topic="winter", subscribed=True, sent_before=True
    )
    run(database, enrollment_id)
    assert [tuple(m) for m in promo_messages(database)] == [("skipped", "frequency_cap")]
    with database.sessions() as session:
        assert (
            session.get(Enrollment, enrollment_id).exit_reason == "offered"
        )  # the journey went on
        assert session.scalars(select(OutboxMessage.topic)).all() == []  # nothing to send


def test_a_cap_defers_until_the_oldest_counted_send_ages_out(database):
    enrollment_id = setup(
        database, on_limit="defer", topic="winter", subscribed=True, sent_before=True
    )
    run(database, enrollment_id)
    with database.sessions() as session:
        enrollment = session.get(Enrollment, enrollment_id)
        assert (enrollment.step, enrollment.status) == ("offer", "waiting")
        assert enrollment.wake_at == NOW + timedelta(days=6)
    assert promo_messages(database) == []
    run(database, enrollment_id, at=NOW + timedelta(days=6, minutes=1))
    assert [tuple(m) for m in promo_messages(database)] == [("queued", None)]


@pytest.mark.parametrize(
    ("subscribed", "expected"), [(True, ("queued", None)), (False, ("skipped", "no_consent"))]
)
def test_a_topic_needs_consent(database, subscribed, expected):
    enrollment_id = setup(
        database, on_limit="skip", topic="winter", subscribed=subscribed, sent_before=False
    )
    run(database, enrollment_id)
    assert [tuple(m) for m in promo_messages(database)] == [expected]
