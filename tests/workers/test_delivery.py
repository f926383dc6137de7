"""Outgoing work for real: journey → outbox → relay → broker → delivery actors → receiver.

The in-process StubBroker (embedded mode) and a real RedisBroker (production) run the same
code path; the receiver is a real HTTP server on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.clock import utcnow
from engine.runtime.enroll import enroll_contacts
from engine.store.db import Database
from engine.store.models import (
    Enrollment,
    Handoff,
    Notification,
    OutboxMessage,
    WebhookDelivery,
)
from engine.webhooks.signing import receiver_secret, verify
from tests.engine.webhooks.support import Receiver, add_contact, add_user
from tests.publishing import publish_source as publish
from tests.workers.conftest import REDIS_URL, make_settings
from tests.workers.stack import Stack
from workers import delivery, jobs
from workers.actors import JOURNEYS_QUEUE
from workers.relay import relay

JOURNEY = """\
dsl: journey/v1
id: demo-request
name: デモ依頼
version: 1
triggers:
  - event: demo_requested
start: push
steps:
  push:
    type: webhook
    url: "{url}/hooks/demo"
    body: {{event: demo_requested, 会社: 山田商事}}
    idempotency_key: demo-request
    on_failure: done
    next: tell
  tell:
    type: notify
    to: {{role: marketer}}
    channel: in_app
    message: "{{{{ contact.last_name }}}} 様からデモ依頼"
    next: hand
  hand:
    type: handoff
    assign: {{strategy: round_robin, pool: sales, fallback: {{role: sales}}}}
    crm: {{create: lead, sync_fields: [company]}}
    notify: {{channel: in_app}}
    next: done
  done: {{type: exit, reason: handed_off}}
"""


class Running(Stack):
    """The stack with a loopback HTTP receiver standing in for the CRM and journey hooks."""

    def __init__(self, database: Database, tmp_path: Path, broker_url: str, namespace: str):
        self.receiver = Receiver().__enter__()
        settings = make_settings(tmp_path, database.url, broker_url=broker_url).model_copy(
            update={
                "webhook_allow_private": True,
                "crm_webhook_url": f"{self.receiver.url}/crm",
            }
        )
        super().__init__(settings, database, namespace)

    def settle(self) -> None:
        """Step due enrollments, relay their outbox, and wait for every queue to drain."""
        for _ in range(3):
            jobs.sweep(self.runtime)
            self.broker.join(JOURNEYS_QUEUE, timeout=20_000)
            relay(self.runtime)
            self.drain(delivery.DELIVERIES_QUEUE)

    def close(self) -> None:
        super().close()
        self.receiver.__exit__()


@pytest.fixture(params=["stub", "redis"])
def running(request, database: Database, tmp_path: Path, namespace: str) -> Iterator[Running]:
    setup = Running(database, tmp_path, REDIS_URL if request.param == "redis" else "", namespace)
    try:
        yield setup
    finally:
        setup.close()


def enroll(running: Running) -> dict[str, int]:
    now = utcnow()
    with running.database.unit_of_work() as session:
        journey = publish(session, JOURNEY.format(url=running.receiver.url), now=now)
        users = {
            "kana": add_user(session, "kana.takahashi@example.jp", "marketer", now=now).id,
            "hanako": add_user(session, "hanako.yamada@example.jp", "sales", now=now).id,
        }
        contact = add_contact(
            session, "taro.yamada@example.jp", now=now, attributes={"company": "山田商事"}
        )
        enroll_contacts(session, journey, [contact.id], now=now, journeys=running.runtime.journeys)
    return users


def test_a_journey_calls_its_webhook_notifies_and_hands_off(running: Running):
    running.receiver.answer(500, path="/hooks/demo")  # the journey webhook fails once
    users = enroll(running)
    running.settle()

    assert running.count(OutboxMessage, OutboxMessage.done_at.is_(None)) == 0
    with running.database.sessions() as session:
        notes = list(session.scalars(select(Notification).order_by(Notification.id)))
        handoff = session.scalars(select(Handoff)).one()
        enrollment = session.scalars(select(Enrollment)).one()
    assert [(n.user_id, n.channel) for n in notes] == [
        (users["kana"], "in_app"),
        (users["hanako"], "in_app"),
    ]
    assert notes[0].body.startswith("山田 様からデモ依頼")
    assert (handoff.status, handoff.assignee_id, handoff.crm_status) == (
        "assigned",
        users["hanako"],
        "synced",
    )
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "handed_off")
    crm = [r for r in running.receiver.requests if r.path == "/crm"]
    assert json.loads(crm[0].body)["contact"]["fields"] == {"company": "山田商事"}
    demo = [r for r in running.receiver.requests if r.path == "/hooks/demo"]
    assert len(demo) == 1
    assert running.count(WebhookDelivery, WebhookDelivery.status == "pending") == 1

    # The retry sweep of the scheduler makes the second attempt once it is due.
    running.offset = timedelta(minutes=1)
    assert delivery.retry_due(running.runtime) == 1
    running.broker.join(delivery.DELIVERIES_QUEUE, timeout=20_000)
    running.worker.join()
    demo = [r for r in running.receiver.requests if r.path == "/hooks/demo"]
    assert len(demo) == 2
    assert demo[0].headers["webhook-id"] == demo[1].headers["webhook-id"]
    assert demo[1].headers["Idempotency-Key"] == "demo-request"
    secret = receiver_secret(running.settings.signing_keys()[0])
    assert verify(
        secret, demo[1].headers, demo[1].body, now=int(running.runtime.clock().timestamp())
    )
    assert running.count(WebhookDelivery, WebhookDelivery.status == "delivered") == 2
    assert delivery.retry_due(running.runtime) == 0


def test_the_scheduler_runs_the_retry_sweep(running: Running):
    assert "webhooks.retry" in jobs.standard_jobs(running.runtime).names()
