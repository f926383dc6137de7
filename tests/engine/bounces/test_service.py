"""Bounces and complaints acted on, on both databases: attribution, suppression, timeline."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from engine.bounces.service import SoftLimit, process, receive
from engine.contacts.schemas import ConsentIn
from engine.contacts.service import ContactRow, record_consent, upsert_contacts
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import (
    Bounce,
    ConsentRecord,
    Event,
    InboundMail,
    Message,
    Subscription,
    Suppression,
)
from tests.engine.bounces.mail import arf, dsn, japanese_text_bounce
from tests.engine.email.smtp_server import SmtpServer
from tests.engine.email.test_send import queue, send

NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
MAIL = {
    "postal_address": "〒100-0001 東京都千代田区千代田1-1 株式会社ナーチャー",
    "public_url": "https://mail.nurture.example.jp",
    "bounce_domain": "bounces.nurture.example.jp",
}
YAMADA = ContactRow(email="taro.yamada@example.jp", first_name="太郎", last_name="山田")


def sent_message(database: Database) -> tuple[int, int, str, str]:
    """A contact subscribed to two topics and one message sent to them."""
    uid = secrets.token_urlsafe(12)
    with database.unit_of_work() as session:
        contact_id = upsert_contacts(session, [YAMADA], now=NOW, reason="test").ids[YAMADA.email]
        record_consent(
            session,
            [
                (contact_id, ConsentIn(topic=t, granted=True, source="test", occurred_at=NOW))
                for t in ("seminar_followup", "newsletter")
            ],
            now=NOW,
        )
        message = Message(
            uid=uid,
            message_id=f"<{uid}@mail.nurture.example.jp>",
            idempotency_key=f"test:{uid}",
            contact_id=contact_id,
            to_address=YAMADA.email,
            journey_id="seminar-followup-ja",
            step_id="thanks",
            template="seminar-thanks-ja",
            topic="seminar_followup",
            subject="ご参加ありがとうございました",
            status="sent",
            queued_at=NOW - timedelta(hours=1),
            sent_at=NOW - timedelta(hours=1),
        )
        session.add(message)
        session.flush()
        return contact_id, message.id, uid, message.message_id


def test_a_hard_bounce_by_verp_marks_the_message_suppresses_and_lands_on_the_timeline(
    database: Database, settings: Settings
) -> None:
    contact_id, message_id, uid, _ = sent_message(database)

    with database.unit_of_work() as session:
        outcome = receive(
            session,
            dsn(YAMADA.email, message_id="<unknown@elsewhere.example>"),
            source="smtp",
            now=NOW,
            rcpt_to=[f"bounces+{uid}@bounces.nurture.example.jp"],
        )

    assert (outcome.recorded, outcome.suppressed) == (1, {YAMADA.email: "hard_bounce"})
    with database.sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None
        assert (message.status, message.bounced_at) == ("bounced", NOW)
        bounce = session.scalars(select(Bounce)).one()
        assert (bounce.message_id, bounce.contact_id, bounce.kind) == (
            message_id,
            contact_id,
            "hard",
        )
        assert (bounce.reason, bounce.status) == ("userunknown", "5.1.1")
        event = session.scalars(select(Event).where(Event.type == "email_bounced")).one()
        assert event.contact_id == contact_id
        assert event.properties["message"] == uid and event.properties["bounce"] == "hard"
        assert session.scalars(select(InboundMail.processed_at)).one() == NOW

    # the next send refuses the address
    next_id, _ = queue(database, contact_id)
    with SmtpServer() as smtp:
        report = send(database, settings.model_copy(update=MAIL), smtp, [next_id])
        assert smtp.received == []
    assert "hard_bounce" in report.suppressed[next_id]


def test_the_same_bounce_delivered_twice_counts_once(database: Database) -> None:
    sent_message(database)
    raw = japanese_text_bounce(YAMADA.email)

    for _ in range(2):
        with database.unit_of_work() as session:
            outcome = receive(session, raw, source="smtp", now=NOW)
        with database.unit_of_work() as session:  # CRLF copy of the same bytes
            process(session, raw.replace(b"\n", b"\r\n"), now=NOW)

    assert outcome.duplicates == 1 and outcome.recorded == 0
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Bounce)) == 1
        assert session.scalar(select(func.count()).select_from(InboundMail)) == 1
        assert session.scalar(select(func.count()).where(Event.type == "email_bounced")) == 1


def test_three_soft_bounces_within_the_window_suppress_but_two_do_not(
    database: Database,
) -> None:
    _, _, _, header_id = sent_message(database)
    full = "smtp; 552 5.2.2 メールボックスが一杯です ({n})"

    suppressed = []
    for n in range(3):
        raw = dsn(YAMADA.email, status="5.2.2", diagnostic=full.format(n=n), message_id=header_id)
        with database.unit_of_work() as session:
            outcome = process(session, raw, now=NOW + timedelta(days=n), soft_limit=SoftLimit(3))
        suppressed.append(outcome.suppressed)

    assert suppressed == [{}, {}, {YAMADA.email: "soft_bounce"}]
    with database.sessions() as session:
        kinds = session.scalars(select(Bounce.kind)).all()
        assert kinds == ["soft", "soft", "soft"]
        reason = session.scalar(select(Suppression.reason).where(Suppression.email == YAMADA.email))
        assert reason == "soft_bounce"


def test_old_soft_bounces_fall_out_of_the_window(database: Database) -> None:
    sent_message(database)
    for n, when in enumerate([NOW - timedelta(days=40), NOW - timedelta(days=35), NOW]):
        raw = dsn(YAMADA.email, status="4.2.2", diagnostic=f"smtp; 452 4.2.2 over quota {n}")
        with database.unit_of_work() as session:
            outcome = process(session, raw, now=when, soft_limit=SoftLimit(3))
    assert outcome.suppressed == {}


def test_a_complaint_unsubscribes_from_every_topic_and_suppresses(database: Database) -> None:
    contact_id, message_id, _, header_id = sent_message(database)

    with database.unit_of_work() as session:
        outcome = receive(session, arf(YAMADA.email, message_id=header_id), source="api", now=NOW)

    assert outcome.suppressed == {YAMADA.email: "complaint"}
    with database.sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None and message.status == "complained"
        subscribed = session.scalars(
            select(Subscription.subscribed).where(Subscription.contact_id == contact_id)
        ).all()
        assert subscribed == [False, False]
        withdrawn = session.scalars(
            select(ConsentRecord.topic).where(
                ConsentRecord.contact_id == contact_id,
                ConsentRecord.granted.is_(False),
                ConsentRecord.source == "complaint",
            )
        ).all()
        assert sorted(withdrawn) == ["newsletter", "seminar_followup"]
        assert session.scalar(select(Event.type).where(Event.source == "bounces")) == (
            "email_complained"
        )


def test_a_bounce_for_an_address_we_never_mailed_is_kept_without_effects_on_others(
    database: Database,
) -> None:
    sent_message(database)
    with database.unit_of_work() as session:
        outcome = receive(session, dsn("stranger@example.com"), source="smtp", now=NOW)
    assert outcome.recorded == 1
    with database.sessions() as session:
        bounce = session.scalars(select(Bounce)).one()
        assert (bounce.message_id, bounce.contact_id) == (None, None)
        assert session.scalar(select(Message.status)) == "sent"
