"""The send service against a real SMTP server (aiosmtpd on loopback), on both databases."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.contacts.schemas import ConsentIn
from engine.contacts.service import ContactRow, record_consent, upsert_contacts
from engine.email.compose import MailIdentity
from engine.email.send import MAX_ATTEMPTS, send_messages
from engine.email.smtp import SmtpMailer
from engine.email.templates import TemplateStore
from engine.email.unsubscribe import read_token
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Message, OutboxMessage, Suppression
from tests.engine.email.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
YAMADA = ContactRow(
    email="taro.yamada@example.jp",
    first_name="太郎",
    last_name="山田",
    locale="ja",
    timezone="Asia/Tokyo",
    attributes={"company": "山田商事株式会社"},
)
TEMPLATES = TemplateStore(ROOT / "templates")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mail_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "postal_address": "〒100-0001 東京都千代田区千代田1-1 株式会社ナーチャー",
            "public_url": "https://mail.nurture.example.jp",
            "bounce_domain": "bounces.nurture.example.jp",
        }
    )


def add_contact(
    database: Database, row: ContactRow = YAMADA, *, topics: dict[str, bool] | None = None
) -> int:
    with database.unit_of_work() as session:
        contact_id = upsert_contacts(session, [row], now=NOW, reason="test").ids[row.email]
        record_consent(
            session,
            [
                (contact_id, ConsentIn(topic=t, granted=g, source="test", occurred_at=NOW))
                for t, g in (topics or {"seminar_followup": True}).items()
            ],
            now=NOW,
        )
    return contact_id


def queue(
    database: Database,
    contact_id: int,
    *,
    template: str = "seminar-thanks-ja",
    topic: str | None = "seminar_followup",
    subject: str
    | None = "{{ contact.last_name }} {{ contact.first_name }} 様、ご参加ありがとうございました",
) -> tuple[int, str]:
    uid = secrets.token_urlsafe(16)
    with database.unit_of_work() as session:
        message = Message(
            uid=uid,
            message_id=f"<{uid}@mail.nurture.example.jp>",
            idempotency_key=f"test:{uid}",
            contact_id=contact_id,
            to_address=YAMADA.email,
            journey_id="seminar-followup-ja",
            step_id="thanks",
            template=template,
            topic=topic,
            subject=subject,
            status="queued",
            attempts=0,
            queued_at=NOW,
        )
        session.add(message)
        session.flush()
        return message.id, message.message_id


def send(database: Database, settings: Settings, smtp: SmtpServer, ids: list[int], *, now=NOW):
    with database.unit_of_work() as session:
        return send_messages(
            session,
            ids,
            now=now,
            identity=MailIdentity.from_settings(settings),
            signing_keys=settings.signing_keys(),
            templates=TEMPLATES,
            mailer=SmtpMailer(smtp.url, timeout=5, connections=1),  # one connection: in order
        )


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_type() == f"text/{subtype}"
    return str(part.get_content())


def decoded(received, name: str) -> str:
    raw = message_from_bytes(received.raw)[name]
    return str(make_header(decode_header(raw)))


def stored(database: Database, message_id: int) -> Message:
    with database.sessions() as session:
        row = session.get(Message, message_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_queued_message_is_delivered_with_both_parts_and_its_headers(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    contact_id = add_contact(database)
    message_id, header_id = queue(database, contact_id)

    report = send(database, mail_settings, smtp, [message_id])

    assert report.sent == [message_id] and report.finished
    (received,) = smtp.received
    message = received.message
    assert (
        str(make_header(decode_header(message["Subject"])))
        == "山田 太郎 様、ご参加ありがとうございました"
    )
    assert b"=?utf-8?" in received.raw  # the subject went as RFC 2047 words
    assert message["Message-ID"] == header_id
    # Decoded as RFC 2047 says (adjacent encoded words join without a space); CPython's
    # own address parser puts a space between them, which no mail client does.
    assert (
        decoded(received, "From")
        == "株式会社ナーチャー セミナー事務局 <seminar@nurture.example.jp>"
    )
    assert decoded(received, "To") == f"山田 太郎 <{YAMADA.email}>"
    assert message.get_content_type() == "multipart/alternative"
    text, html = body(message, "plain"), body(message, "html")
    assert "山田 太郎 様" in text and "山田 太郎 様" in html
    assert "〒100-0001 東京都千代田区千代田1-1 株式会社ナーチャー" in text

    uid = stored(database, message_id).uid
    assert received.mail_from == f"bounces+{uid}@bounces.nurture.example.jp"
    assert received.rcpt_tos == [YAMADA.email]
    one_click, mailto = (part.strip(" <>") for part in message["List-Unsubscribe"].split(","))
    assert one_click.startswith("https://mail.nurture.example.jp/u/")
    token = one_click.rsplit("/", 1)[1]
    assert read_token(token, mail_settings.signing_keys()) == uid
    assert token.split(".")[0] == uid  # the opaque handle, not the address or the row id
    # No path segment is the row id (a random uid may well start with its digits).
    assert "taro.yamada" not in one_click and str(message_id) not in one_click.split("/")
    assert mailto.startswith("mailto:unsubscribe@bounces.nurture.example.jp?subject=unsubscribe")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "seminar_followup <seminar_followup.mail.nurture.example.jp>"
    assert message["Feedback-ID"] == "seminar-followup-ja.thanks:seminar_followup:nurture"
    assert f"/u/{token}" in html and f"/u/{token}" in text

    row = stored(database, message_id)
    assert (row.status, row.attempts, row.smtp_code, row.error) == ("sent", 1, "250 2.0.0", None)
    assert row.sent_at == NOW


def test_a_sent_message_is_never_sent_again(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    message_id, _ = queue(database, add_contact(database))
    send(database, mail_settings, smtp, [message_id])

    again = send(database, mail_settings, smtp, [message_id, message_id])

    assert again.sent == [] and again.finished
    assert len(smtp.received) == 1
    assert stored(database, message_id).attempts == 1


def test_a_deferral_keeps_it_queued_then_the_retry_sends_it_with_the_same_message_id(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    message_id, header_id = queue(database, add_contact(database))
    smtp.script.rcpt.append("451 4.7.1 Greylisted, try again later")

    first = send(database, mail_settings, smtp, [message_id])

    assert not first.finished and list(first.deferred) == [message_id]
    row = stored(database, message_id)
    assert (row.status, row.attempts, row.sent_at) == ("queued", 1, None)
    assert "Greylisted" in (row.error or "")
    assert smtp.received == []

    second = send(database, mail_settings, smtp, [message_id], now=NOW + timedelta(minutes=5))

    assert second.sent == [message_id]
    (received,) = smtp.received
    assert received.message["Message-ID"] == header_id
    row = stored(database, message_id)
    assert (row.status, row.attempts, row.error) == ("sent", 2, None)


def test_a_message_deferred_too_often_is_given_up(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    message_id, _ = queue(database, add_contact(database))
    with database.unit_of_work() as session:
        session.get(Message, message_id).attempts = MAX_ATTEMPTS - 1  # type: ignore[union-attr]
    smtp.script.data.append("452 4.2.2 Mailbox full")

    report = send(database, mail_settings, smtp, [message_id])

    assert report.finished and list(report.failed) == [message_id]
    row = stored(database, message_id)
    assert row.status == "failed"
    assert row.error == f"gave up after {MAX_ATTEMPTS} attempts: 4.2.2 Mailbox full"


def test_an_unknown_mailbox_bounces_and_is_suppressed(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    contact_id = add_contact(database)
    message_id, _ = queue(database, contact_id)
    smtp.script.rcpt.append("550 5.1.1 <taro.yamada@example.jp>: Recipient address rejected")

    report = send(database, mail_settings, smtp, [message_id])

    assert report.bounced == [message_id] and report.finished
    row = stored(database, message_id)
    assert (row.status, row.smtp_code, row.bounced_at) == ("bounced", "550 5.1.1", NOW)
    with database.sessions() as session:
        suppression = session.scalars(select(Suppression)).one()
        assert (suppression.email, suppression.scope, suppression.reason) == (
            YAMADA.email,
            "*",
            "hard_bounce",
        )
        changed = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "contacts.changed")
        ).all()
        assert {"contact_ids": [contact_id]} in changed

    later, _ = queue(database, contact_id)  # the next message is not even tried
    assert send(database, mail_settings, smtp, [later]).suppressed == {
        later: "hard_bounce (scope *)"
    }
    assert smtp.received == [] and len(smtp.handler.refused) == 1


def test_another_permanent_refusal_fails_with_the_reply(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    message_id, _ = queue(database, add_contact(database))
    smtp.script.data.append("554 5.7.1 Message rejected as spam")

    report = send(database, mail_settings, smtp, [message_id])

    assert list(report.failed) == [message_id]
    row = stored(database, message_id)
    assert (row.status, row.smtp_code, row.error) == (
        "failed",
        "554 5.7.1",
        "5.7.1 Message rejected as spam",
    )
    with database.sessions() as session:
        assert session.scalars(select(Suppression)).all() == []


@pytest.mark.parametrize("scope", ["*", "seminar_followup"])
def test_a_suppressed_address_never_reaches_the_server(
    database: Database, mail_settings: Settings, smtp: SmtpServer, scope: str
) -> None:
    message_id, _ = queue(database, add_contact(database))
    with database.unit_of_work() as session:
        session.add(
            Suppression(
                email=YAMADA.email, scope=scope, reason="complaint", source="test", created_at=NOW
            )
        )

    report = send(database, mail_settings, smtp, [message_id])

    assert report.suppressed == {message_id: f"complaint (scope {scope})"}
    assert smtp.received == [] and smtp.handler.refused == []
    row = stored(database, message_id)
    assert (row.status, row.error, row.attempts) == ("suppressed", f"complaint (scope {scope})", 0)


def test_a_suppression_of_another_topic_or_expired_does_not_block(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    message_id, _ = queue(database, add_contact(database))
    with database.unit_of_work() as session:
        session.add_all(
            [
                Suppression(
                    email=YAMADA.email,
                    scope="newsletter",
                    reason="unsubscribe",
                    source="t",
                    created_at=NOW,
                ),
                Suppression(
                    email=YAMADA.email,
                    scope="*",
                    reason="manual",
                    source="t",
                    created_at=NOW,
                    expires_at=NOW - timedelta(days=1),
                ),
            ]
        )
    assert send(database, mail_settings, smtp, [message_id]).sent == [message_id]


def test_an_unsubscribed_topic_is_checked_at_send_time(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    contact_id = add_contact(database)
    message_id, _ = queue(database, contact_id)
    with database.unit_of_work() as session:  # withdrawn after the journey queued the send
        record_consent(
            session,
            [
                (
                    contact_id,
                    ConsentIn(topic="seminar_followup", granted=False, source="preference-center"),
                )
            ],
            now=NOW + timedelta(seconds=1),
        )

    report = send(database, mail_settings, smtp, [message_id])

    assert report.suppressed == {message_id: "not subscribed to seminar_followup"}
    assert smtp.received == []
    assert stored(database, message_id).status == "suppressed"


def test_a_message_without_topic_needs_no_subscription(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    contact_id = add_contact(database, topics={"newsletter": False})
    message_id, _ = queue(database, contact_id, template="optin-confirm", topic=None, subject=None)
    with database.unit_of_work() as session:
        session.get(Message, message_id).journey_id = None  # type: ignore[union-attr]

    report = send(database, mail_settings, smtp, [message_id])

    # optin-confirm needs the confirmation link from the entry: without it, a clear failure.
    assert report.failed == {
        message_id: f"{(ROOT / 'templates' / 'optin-confirm.mjml').as_posix()}:12: "
        "{{ entry.properties.confirm_url }}: 'dict object' has no attribute 'confirm_url' "
        "(write | default('…') for a value that may be missing)"
    }
    assert smtp.received == []


def test_one_batch_sends_many_over_one_connection_and_records_each(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    contact_id = add_contact(database)
    ids = [queue(database, contact_id)[0] for _ in range(3)]
    smtp.script.rcpt.append("451 4.3.0 Try later")  # the first one only

    report = send(database, mail_settings, smtp, ids)

    assert list(report.deferred) == [ids[0]] and report.sent == ids[1:]
    assert len(smtp.received) == 2
    assert [stored(database, i).status for i in ids] == ["queued", "sent", "sent"]


def test_an_unreachable_server_defers_the_batch(
    database: Database, mail_settings: Settings
) -> None:
    message_id, _ = queue(database, add_contact(database))
    with SmtpServer() as closed:
        pass  # started and stopped: nothing listens on its port now

    report = send(database, mail_settings, closed, [message_id])

    assert list(report.deferred) == [message_id]
    assert "cannot reach 127.0.0.1" in report.deferred[message_id]
    assert stored(database, message_id).status == "queued"


def test_two_senders_given_the_same_batch_send_each_message_once(
    database: Database, mail_settings: Settings, smtp: SmtpServer
) -> None:
    """A redelivered outbox batch meets the first sender mid-send: the rows it holds are
    skipped, never mailed twice, on either database."""
    from concurrent.futures import ThreadPoolExecutor

    contact_id = add_contact(database)
    ids = [queue(database, contact_id)[0] for _ in range(30)]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: send(database, mail_settings, smtp, ids), range(2)))

    assert sorted(reports[0].sent + reports[1].sent) == ids
    assert sorted(len(r.sent) for r in reports) == [0, 30]  # the second waited, found none
    assert len(smtp.received) == 30
    assert len({message_from_bytes(r.raw)["Message-ID"] for r in smtp.received}) == 30
