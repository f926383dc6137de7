"""A click wakes a journey at once: mail out over SMTP, the tracked link followed, the
consumer's ``email_clicked`` event routed to the enrollment waiting for it (no timer moved)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from engine.clock import utcnow
from engine.store.db import Database
from engine.store.models import Contact, Enrollment, Message
from tests.engine.email.smtp_server import SmtpServer
from tests.engine.email.test_send import body
from tests.publishing import publish_source
from tests.workers.conftest import make_settings, namespace, redis_client
from tests.workers.stack import Stack
from workers import actors, email
from workers.relay import relay
from workers.tracking import TrackingConsumer

__all__ = ["namespace", "redis_client"]  # fixtures used here

ROOT = Path(__file__).resolve().parents[2]
JOURNEY = """\
dsl: journey/v1
id: guide-click
name: ガイドのクリック待ち
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
    subject: "{{ contact.last_name }} 様、ガイドをお届けします"
    next: clicked
  clicked:
    type: wait_for
    event: email_clicked
    timeout: 7d
    on_event: engaged
    on_timeout: done
  engaged: {type: score, adjust: 5, reason: ガイドをクリック, next: done}
  done: {type: exit, reason: 完了}
"""
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


@pytest.fixture
def stack(database: Database, tmp_path: Path, namespace: str) -> Iterator[Stack]:
    with database.unit_of_work() as session:
        publish_source(session, JOURNEY, now=utcnow())
    with SmtpServer() as smtp:
        settings = make_settings(tmp_path, database.url).model_copy(
            update={
                "smtp_url": smtp.url,
                "templates_dir": ROOT / "templates",
                "postal_address": "〒100-0001 東京都千代田区千代田1-1",
                "public_url": "https://mail.nurture.example.jp",
            }
        )
        running = Stack(settings, database, namespace)
        running.smtp = smtp  # type: ignore[attr-defined]
        try:
            yield running
        finally:
            running.close()


def settle(stack: Stack) -> None:
    for _ in range(5):
        stack.drain(actors.JOURNEYS_QUEUE, email.EMAIL_QUEUE)
        if relay(stack.runtime) == 0:
            return


def test_a_click_on_the_guide_wakes_the_enrollment_waiting_for_it(stack: Stack) -> None:
    headers = stack.key("marketer")
    person = {"email": "hanako.sato@example.jp", "last_name": "佐藤", "first_name": "花子"}
    assert stack.client.post("/api/contacts", json=person, headers=headers).status_code in (
        200,
        201,
    )
    event = {"type": "trial_started", "email": person["email"], "properties": {}}
    assert stack.client.post("/api/events", json=event, headers=headers).status_code == 202
    settle(stack)
    (received,) = stack.smtp.received  # type: ignore[attr-defined]
    html = body(received.message, "html")
    links = re.findall(r"https://mail\.nurture\.example\.jp(/t/c/[^\"']+)", html)
    guide = next(path for path in links if path.split(".")[-2] != "0")  # not the decoy
    with stack.database.unit_of_work() as session:
        waiting = session.scalars(select(Enrollment.step)).all()
        # She reads it a few minutes later (a click seconds after delivery is a scanner's).
        session.execute(update(Message).values(sent_at=utcnow() - timedelta(minutes=3)))

    answer = stack.client.get(guide, headers={"User-Agent": CHROME}, follow_redirects=False)
    consumer = TrackingConsumer(stack.database, stack.client.app.state.tracking_buffer)  # type: ignore[attr-defined]
    consumer.step(wait=0)
    settle(stack)

    with stack.database.sessions() as session:
        status, reason, score = session.execute(
            select(Enrollment.status, Enrollment.exit_reason, Contact.score).join(
                Contact, Contact.id == Enrollment.contact_id
            )
        ).one()
    assert waiting == ["clicked"]
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("https://acme.io/guides/nurture-playbook.pdf?")
    assert (status, reason, score) == ("exited", "完了", 5)
