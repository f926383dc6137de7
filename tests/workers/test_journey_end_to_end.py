"""A journey end to end, in both modes: an API event enrolls, mail goes out over SMTP, the
enrollment waits, branches on whether the mail was opened, sends or scores, and exits.

Embedded mode's in-process broker and production's Redis broker run the same path, on
SQLite and PostgreSQL; the mail goes to a real SMTP server on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.clock import utcnow
from engine.store.db import Database
from engine.store.models import Contact, Enrollment, Message, TrackingEvent
from tests.engine.email.smtp_server import SmtpServer
from tests.publishing import publish_source
from tests.workers.conftest import REDIS_URL, make_settings
from tests.workers.stack import Stack
from workers import actors, email, jobs
from workers.relay import relay

ROOT = Path(__file__).resolve().parents[2]
TRIAL = """\
dsl: journey/v1
id: trial-nurture
name: トライアル育成
version: 1
triggers:
  - event: trial_started
entry: {reentry: never}
defaults: {send_email: {from: {name: ナーチャー事務局, email: hello@nurture.example.jp}}}
start: welcome
steps:
  welcome:
    type: send_email
    template: nurture-welcome
    subject: "{{ contact.last_name }} 様、トライアルへようこそ"
    next: wait_2d
  wait_2d: {type: wait, duration: 2d, next: opened}
  opened:
    type: branch
    if: {email: opened, step: welcome}
    then: engaged
    else: reminder
  engaged: {type: score, adjust: 10, reason: 歓迎メールを開封, next: done}
  reminder:
    type: send_email
    template: nurture-welcome-reminder
    subject: "{{ contact.last_name }} 様、ガイドはご覧いただけましたか"
    next: done
  done: {type: exit, reason: 育成完了}
"""
YAMADA = {"email": "taro.yamada@example.jp", "last_name": "山田", "first_name": "太郎"}
SATO = {"email": "hanako.sato@example.jp", "last_name": "佐藤", "first_name": "花子"}


class Trial(Stack):
    """The stack mailing a real SMTP server, with the shipped templates."""

    def __init__(
        self, database: Database, tmp_path: Path, smtp: SmtpServer, broker_url: str, ns: str
    ) -> None:
        settings = make_settings(tmp_path, database.url, broker_url=broker_url).model_copy(
            update={
                "smtp_url": smtp.url,
                "templates_dir": ROOT / "templates",
                "postal_address": "〒100-0001 東京都千代田区千代田1-1",
                "public_url": "https://mail.nurture.example.jp",
            }
        )
        super().__init__(settings, database, ns)
        self.smtp = smtp
        self.headers = self.key("marketer")

    def settle(self) -> None:
        """Let the workers finish, relaying what they queue as the scheduler would."""
        for _ in range(5):
            self.drain(actors.JOURNEYS_QUEUE, email.EMAIL_QUEUE)
            if relay(self.runtime) == 0:
                return


@pytest.fixture(params=["embedded", "redis"])
def stack(request, database: Database, tmp_path: Path, namespace: str) -> Iterator[Trial]:
    with database.unit_of_work() as session:
        publish_source(session, TRIAL, now=utcnow())
    broker_url = REDIS_URL if request.param == "redis" else ""
    with SmtpServer() as smtp:
        running = Trial(database, tmp_path, smtp, broker_url, namespace)
        try:
            yield running
        finally:
            running.close()


def subjects(stack: Trial) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for received in stack.smtp.received:
        message = received.message
        found.setdefault(message["To"].addresses[0].addr_spec, []).append(str(message["Subject"]))
    return found


def test_event_to_mail_wait_branch_on_open_score_and_exit(stack: Trial) -> None:
    for person in (YAMADA, SATO):
        created = stack.client.post("/api/contacts", json=person, headers=stack.headers)
        assert created.status_code in (200, 201), created.text
        event = {"type": "trial_started", "email": person["email"], "properties": {"plan": "pro"}}
        assert (
            stack.client.post("/api/events", json=event, headers=stack.headers).status_code == 202
        )
    stack.settle()
    welcomed = subjects(stack)
    with stack.database.unit_of_work() as session:
        waiting = session.scalars(select(Enrollment.step).order_by(Enrollment.id)).all()
        yamada_id = session.scalar(select(Contact.id).where(Contact.email == YAMADA["email"]))
        welcome = session.scalars(
            select(Message).where(Message.contact_id == yamada_id, Message.step_id == "welcome")
        ).one()
        sent_ids = [received.message["Message-ID"] for received in stack.smtp.received]
        # Yamada opens the welcome mail (what the tracking pixel records).
        session.add(
            TrackingEvent(
                kind="open",
                message_id=welcome.id,
                contact_id=yamada_id,
                classification="human",
                occurred_at=stack.runtime.clock() + timedelta(hours=3),
            )
        )

    stack.offset = timedelta(days=2, minutes=1)
    dispatched = jobs.sweep(stack.runtime)
    stack.settle()

    with stack.database.unit_of_work() as session:
        finished = {
            email: (status, reason, score)
            for email, status, reason, score in session.execute(
                select(
                    Contact.email, Enrollment.status, Enrollment.exit_reason, Contact.score
                ).join(Contact, Contact.id == Enrollment.contact_id)
            )
        }
        statuses = sorted(session.scalars(select(Message.status)))
        stored_subjects = sorted(session.scalars(select(Message.subject)))
    assert welcomed == {
        YAMADA["email"]: ["山田 様、トライアルへようこそ"],
        SATO["email"]: ["佐藤 様、トライアルへようこそ"],
    }
    assert waiting == ["wait_2d", "wait_2d"]
    assert welcome.message_id in sent_ids  # the stored Message-ID is the one sent
    assert dispatched == 2
    assert subjects(stack) == {
        YAMADA["email"]: ["山田 様、トライアルへようこそ"],
        SATO["email"]: ["佐藤 様、トライアルへようこそ", "佐藤 様、ガイドはご覧いただけましたか"],
    }
    assert finished == {
        YAMADA["email"]: ("exited", "育成完了", 10),
        SATO["email"]: ("exited", "育成完了", 0),
    }
    assert statuses == ["sent", "sent", "sent"]
    # What the timeline shows is the subject as it went out, not its template.
    assert stored_subjects == sorted(s for sent in subjects(stack).values() for s in sent)
