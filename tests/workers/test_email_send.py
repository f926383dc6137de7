"""Journey mail delivered for real: event → journey → outbox → relay → email.send → SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from dramatiq.errors import Retry
from sqlalchemy import select

from engine.clock import utcnow
from engine.store.db import Database
from engine.store.models import Message, OutboxMessage
from tests.engine.email.smtp_server import SmtpServer
from tests.publishing import publish_source
from tests.workers.conftest import make_settings
from tests.workers.stack import Stack
from workers import email, runtime
from workers.relay import relay

ROOT = Path(__file__).resolve().parents[2]
SEMINAR = """\
dsl: journey/v1
id: seminar-thanks
name: セミナー御礼
version: 1
triggers:
  - event: seminar_attended
entry: {reentry: never}
defaults:
  send_email:
    from: {name: ナーチャー事務局, email: jimukyoku@nurture.example.jp}
    topic: seminar_followup
start: thanks
steps:
  thanks:
    type: send_email
    template: seminar-thanks-ja
    subject: "{{ contact.last_name }} {{ contact.first_name }} 様、{{ entry.properties.seminar_title }}へのご参加ありがとうございました"
    next: done
  done: {type: exit, reason: 御礼済み}
"""
YAMADA = {
    "email": "taro.yamada@example.jp",
    "first_name": "太郎",
    "last_name": "山田",
    "locale": "ja",
    "consent": [{"topic": "seminar_followup", "granted": True, "source": "申込フォーム"}],
}


class Running(Stack):
    """Embedded mode's setup (in-process broker, a real worker) mailing a real SMTP server."""

    def __init__(self, database: Database, tmp_path: Path, smtp: SmtpServer) -> None:
        settings = make_settings(tmp_path, database.url).model_copy(
            update={
                "smtp_url": smtp.url,
                "templates_dir": ROOT / "templates",
                "postal_address": "〒100-0001 東京都千代田区千代田1-1",
                "public_url": "https://mail.nurture.example.jp",
            }
        )
        super().__init__(settings, database, "nurture-email-test")
        self.offset = timedelta(seconds=1)
        self.smtp = smtp
        self.headers = self.key("marketer")

    def attend(self) -> None:
        response = self.client.post("/api/contacts", json=YAMADA, headers=self.headers)
        assert response.status_code in (200, 201), response.text
        event = {
            "type": "seminar_attended",
            "email": YAMADA["email"],
            "properties": {"seminar_title": "MA入門セミナー"},
        }
        assert self.client.post("/api/events", json=event, headers=self.headers).status_code == 202
        self.settle()

    def settle(self) -> None:
        self.drain("journeys", email.EMAIL_QUEUE)

    def send_row(self) -> OutboxMessage:
        with self.database.sessions() as session:
            row = session.scalars(
                select(OutboxMessage).where(OutboxMessage.topic == "email.send")
            ).one()
            session.expunge(row)
            return row

    def message(self) -> Message:
        with self.database.sessions() as session:
            row = session.scalars(select(Message)).one()
            session.expunge(row)
            return row


@pytest.fixture
def running(database: Database, tmp_path: Path) -> Iterator[Running]:
    now = utcnow()
    with database.unit_of_work() as session:
        publish_source(session, SEMINAR, now=now)
    with SmtpServer() as smtp:
        setup = Running(database, tmp_path, smtp)
        try:
            yield setup
        finally:
            setup.close()


def test_a_journey_send_reaches_the_smtp_server_through_the_worker(running: Running) -> None:
    running.attend()
    queued = running.message()
    assert queued.status == "queued"

    assert relay(running.runtime) >= 1
    running.settle()

    (received,) = running.smtp.received
    raw = message_from_bytes(received.raw)
    assert str(make_header(decode_header(raw["Subject"]))) == (
        "山田 太郎 様、MA入門セミナーへのご参加ありがとうございました"
    )
    # The journey's sender wins over the template's front matter.
    assert str(make_header(decode_header(raw["From"]))) == (
        "ナーチャー事務局 <jimukyoku@nurture.example.jp>"
    )
    assert raw["Message-ID"] == queued.message_id
    part = received.message.get_body(preferencelist=("plain",))
    assert part is not None
    body = part.get_content()
    assert "「MA入門セミナー」にご参加いただき" in body
    sent = running.message()
    assert (sent.status, sent.attempts, sent.sent_at is not None) == ("sent", 1, True)
    assert running.send_row().done_at is not None

    email.send_email([sent.id], running.send_row().id)  # a redelivered message
    assert len(running.smtp.received) == 1


def test_a_deferred_send_is_retried_with_the_same_message_id_and_sent_once(
    running: Running,
) -> None:
    running.attend()
    queued = running.message()
    row = running.send_row()
    running.smtp.script.rcpt.append("451 4.7.1 Greylisted, please try again")

    with pytest.raises(Retry) as raised:
        email.send_email([queued.id], row.id)

    assert "Greylisted" in str(raised.value)
    deferred = running.message()
    assert (deferred.status, deferred.attempts) == ("queued", 1)
    assert running.send_row().done_at is None  # not done: the relay would bring it back too
    assert running.smtp.received == []

    email.send_email([queued.id], row.id)

    (received,) = running.smtp.received
    assert message_from_bytes(received.raw)["Message-ID"] == queued.message_id
    sent = running.message()
    assert (sent.status, sent.attempts) == ("sent", 2)
    assert running.send_row().done_at is not None


def test_a_contact_unsubscribed_before_the_send_gets_nothing(running: Running) -> None:
    running.attend()
    withdrawal = {"topic": "seminar_followup", "granted": False, "source": "preference-center"}
    response = running.client.post(
        f"/api/contacts/{YAMADA['email']}/consent", json=withdrawal, headers=running.headers
    )
    assert response.status_code == 200
    queued = running.message()

    email.send_email([queued.id], running.send_row().id)

    assert running.smtp.received == []
    message = running.message()
    assert (message.status, message.error) == ("suppressed", "not subscribed to seminar_followup")
    assert running.send_row().done_at is not None


def test_embedded_mode_mails_the_capture_of_this_process(
    database: Database, tmp_path: Path
) -> None:
    if database.dialect != "sqlite":
        pytest.skip("embedded mode runs on SQLite")
    from engine.email.capture import CaptureServer, list_captured, read_captured

    now = utcnow()
    with database.unit_of_work() as session:
        publish_source(session, SEMINAR, now=now)
    with SmtpServer() as unused, CaptureServer(tmp_path / "var", port=0) as capture:
        setup = Running(database, tmp_path, unused)
        try:
            embedded = runtime.Runtime(
                settings=setup.runtime.settings.model_copy(update={"smtp_url": ""}),
                database=database,
                process=setup.runtime.process,
                clock=setup.runtime.clock,
                capture_port=capture.port,
            )
            assert embedded.settings.embedded
            assert embedded.smtp_url == f"smtp://127.0.0.1:{capture.port}"
            runtime.install(embedded)
            setup.attend()
            email.send_email([setup.message().id], setup.send_row().id)
        finally:
            setup.close()
        (summary,) = list_captured(capture.var_dir)
        assert summary.subject == "山田 太郎 様、MA入門セミナーへのご参加ありがとうございました"
        assert "山田 太郎 様" in (read_captured(capture.var_dir, summary.id).text or "")
        assert unused.received == []
