"""Done when: a lead crossing the MQL threshold under racing events gets exactly one handoff,
assigned by the rule, and the CRM receives it signed, retried under the same id."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from engine.handoffs.service import process_handoff
from engine.notifications import service as notifications
from engine.store.db import Database
from engine.store.models import Contact, Handoff, StageChange, WebhookDelivery
from engine.webhooks import service as webhooks
from engine.webhooks.signing import receiver_secret, verify
from tests.engine.scoring.test_service import FIT, NOW, post, setup
from tests.engine.webhooks.support import Receiver, add_user, make_settings

THREADS = 6


def test_racing_events_make_one_handoff_and_one_signed_crm_call(
    database: Database, tmp_path: Path, migrated_url: str, receiver: Receiver
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL's row locks")
    setup(database)
    with database.unit_of_work() as session:
        add_user(session, "hanako.sato@example.jp", "sales", now=NOW, family_name="佐藤")
        add_user(session, "kana.takahashi@example.jp", "sales", now=NOW, family_name="高橋")
        # A large company: the inside-sales territory rule sends it to kana.
        session.execute(update(Contact).values(attributes={**FIT, "employees": 1500}))

    def demo_request(n: int) -> None:
        post(
            database, "taro.yamada@example.jp", ("form_submitted", {"form": "demo-request", "n": n})
        )

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(demo_request, range(THREADS)))

    with database.sessions() as session:
        contact = session.scalars(select(Contact)).one()
        handoff = session.scalars(select(Handoff).where(Handoff.status == "pending")).one()
        mql = session.scalars(select(StageChange).where(StageChange.to_stage == "mql")).all()
    assert (contact.score, contact.lifecycle_stage, len(mql)) == (30 * THREADS, "mql", 1)

    settings = make_settings(
        tmp_path, migrated_url, webhook_allow_private=True, crm_webhook_url=f"{receiver.url}/crm"
    )
    receiver.answer(503)
    with database.unit_of_work() as session:
        outgoing = process_handoff(session, handoff.id, now=NOW, settings=settings)
    notifications.send(database, outgoing, settings=settings, clock=lambda: NOW)
    later = NOW + timedelta(hours=1)
    with database.unit_of_work() as session:
        leased = webhooks.claim(session, now=later)
    assert webhooks.deliver(database, leased, settings=settings, clock=lambda: later) == [
        "delivered"
    ]

    first, retry = receiver.requests
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    secret = receiver_secret(settings.signing_keys()[0])
    assert verify(secret, retry.headers, retry.body, now=int(later.timestamp()))
    body = json.loads(retry.body)
    assert body["assignee"]["email"] == "kana.takahashi@example.jp"
    assert body["score"] == 30 * THREADS
    assert body["brief"]["qualified_by"] == "MQL rule: score ≥ 60 and grade ≥ B"
    with database.sessions() as session:
        (delivery,) = session.scalars(select(WebhookDelivery)).all()
        assigned = session.get(Handoff, handoff.id)
    assert delivery.status == "delivered"
    assert assigned is not None
    assert assigned.reason == "territory of kana.takahashi@example.jp"
    assert assigned.sla_due_at == NOW + timedelta(hours=4)  # sla.accept_within
