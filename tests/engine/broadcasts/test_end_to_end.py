"""A small broadcast end to end: walked, sent through the email pipeline to a real SMTP server."""

from __future__ import annotations

from sqlalchemy import insert, select

from engine.broadcasts.service import advance, send_broadcast, show_broadcast
from engine.broadcasts.walk import SEND_BROADCAST_EMAIL
from engine.email.compose import MailIdentity
from engine.email.send import send_messages
from engine.email.smtp import SmtpMailer
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Link, OutboxMessage, Suppression
from tests.engine.broadcasts.people import (
    AB,
    DOMAIN,
    NOW,
    PLAIN,
    TOPIC,
    add_people,
    add_person,
    create,
    messages,
)
from tests.engine.email.smtp_server import SmtpServer
from tests.engine.email.test_send import TEMPLATES, decoded
from tests.engine.email.test_send import mail_settings as mail_settings


def test_a_broadcast_reaches_every_consenting_unsuppressed_member(
    database: Database, mail_settings: Settings
) -> None:
    people = add_people(database, 4)
    add_person(database, "teishi@example.jp")
    broadcast = create(database, PLAIN)
    with database.unit_of_work() as session:
        session.execute(
            insert(Suppression),
            [
                {
                    "email": "teishi@example.jp",
                    "scope": "*",
                    "reason": "complaint",
                    "source": "test",
                    "created_at": NOW,
                }
            ],
        )
        send_broadcast(session, broadcast, at=None, now=NOW)
    advance(database, now=NOW, message_domain=DOMAIN)

    with SmtpServer() as smtp, database.unit_of_work() as session:
        batches = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == SEND_BROADCAST_EMAIL)
        ).all()
        for payload in batches:  # what the email.send actor does with each outbox row
            send_messages(
                session,
                payload["message_ids"],
                now=NOW,
                identity=MailIdentity.from_settings(mail_settings),
                signing_keys=mail_settings.signing_keys(),
                templates=TEMPLATES,
                mailer=SmtpMailer(smtp.url, timeout=5, connections=1),
            )
        received = list(smtp.received)
    advance(database, now=NOW, message_domain=DOMAIN)

    assert len(received) == len(people)
    assert decoded(received[0], "Subject") == "佐藤0 様、秋の新機能のお知らせ"
    with database.sessions() as session:
        view = show_broadcast(session, broadcast).to_dict()
    assert view["messages"] == {"sent": 4, "suppressed": 1}
    assert view["status"] == "finished"


def test_broadcast_mail_names_the_broadcast_and_variant_in_feedback_id_and_links(
    database: Database, mail_settings: Settings
) -> None:
    add_people(database, 5)
    broadcast = create(database, AB)
    with database.unit_of_work() as session:
        send_broadcast(session, broadcast, at=None, now=NOW)
    advance(database, now=NOW, message_domain=DOMAIN)

    with SmtpServer() as smtp, database.unit_of_work() as session:
        for payload in session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == SEND_BROADCAST_EMAIL)
        ):
            send_messages(
                session,
                payload["message_ids"],
                now=NOW,
                identity=MailIdentity.from_settings(mail_settings),
                signing_keys=mail_settings.signing_keys(),
                templates=TEMPLATES,
                mailer=SmtpMailer(smtp.url, timeout=5, connections=2),
            )
        received = list(smtp.received)
    with database.sessions() as session:
        targets = session.scalars(select(Link.url).where(Link.position > 0)).all()

    assert received
    variants = {m.variant for m in messages(database, broadcast)} - {None}
    for mail in received:
        feedback = decoded(mail, "Feedback-ID")
        campaign, _, rest = feedback.partition(":")
        assert campaign.split(".")[0] == "autumn_ab" and campaign.split(".")[1] in variants
        assert rest == f"{TOPIC}:nurture"
        assert decoded(mail, "List-Id") == f"{TOPIC} <{TOPIC}.mail.nurture.example.jp>"
        assert "direct" not in feedback
    assert targets and all("utm_campaign=autumn_ab&" in url for url in targets)
