"""``handoff.created``: assign an owner, set the SLA, notify them, and call the CRM once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from engine.handoffs.service import process_handoff
from engine.notifications import service as notifications
from engine.runtime.advance import advance
from engine.runtime.enroll import enroll_contacts
from engine.runtime.journeys import CompiledJourneys
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Enrollment, Handoff, Notification, WebhookDelivery
from engine.webhooks.signing import receiver_secret, verify
from tests.engine.webhooks.support import (
    Receiver,
    add_contact,
    add_user,
    make_settings,
)
from tests.publishing import publish_source as publish

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)

JOURNEY = """\
dsl: journey/v1
id: sales-ready
name: 営業引き渡し
version: 1
triggers:
  - event: demo_requested
start: hand
steps:
  hand:
    type: handoff
    assign: {assign}
    crm: {{create: lead, sync_fields: [company, score]}}
    task: {{title: "{{{{ contact.company }}}} に電話", due: 1d}}
    notify: {{channel: in_app}}
    next: done
  done: {{type: exit, reason: handed_off}}
"""
ROUND_ROBIN = "{strategy: round_robin, pool: ae-japan, fallback: {user: boss@example.jp}}"

LEADS = [
    ("taro.yamada@example.jp", "山田", "太郎", "山田商事"),
    ("hanako.suzuki@example.jp", "鈴木", "花子", "鈴木工業"),
    ("ken.tanaka@example.jp", "田中", "健", "田中物産"),
]


def hand_off(database: Database, assign: str, leads=LEADS, **contact_fields) -> list[int]:
    """Publish the journey, enroll the leads and step them; return the handoff ids."""
    journeys = CompiledJourneys()
    with database.unit_of_work() as session:
        journey = publish(session, JOURNEY.format(assign=assign), now=NOW)
        ids = [
            add_contact(
                session,
                email,
                now=NOW,
                last_name=last,
                first_name=first,
                score=70 + n,
                attributes={"company": company},
                **contact_fields,
            ).id
            for n, (email, last, first, company) in enumerate(leads)
        ]
        enroll_contacts(session, journey, ids, now=NOW, journeys=journeys)
        enrollments = list(session.scalars(select(Enrollment.id).order_by(Enrollment.id)))
        advance(session, enrollments, now=NOW, journeys=journeys, message_domain="example.jp")
        return list(session.scalars(select(Handoff.id).order_by(Handoff.id)))


def process(database: Database, settings: Settings, handoff_id: int) -> None:
    """Do what the ``handoffs.created`` actor does."""
    with database.unit_of_work() as session:
        outgoing = process_handoff(session, handoff_id, now=NOW, settings=settings)
    notifications.send(database, outgoing, settings=settings, clock=lambda: NOW)


def handoffs(database: Database) -> list[Handoff]:
    with database.sessions() as session:
        return list(session.scalars(select(Handoff).order_by(Handoff.id)))


def test_round_robin_spreads_leads_over_active_sales_users(database: Database, settings: Settings):
    with database.unit_of_work() as session:
        hanako = add_user(session, "hanako.yamada@example.jp", "sales", now=NOW).id
        add_user(session, "ichiro.suzuki@example.jp", "sales", now=NOW, active=False)
        jiro = add_user(session, "jiro.sato@example.jp", "sales", now=NOW).id
    for handoff_id in hand_off(database, ROUND_ROBIN):
        process(database, settings, handoff_id)

    rows = handoffs(database)
    assert [h.assignee_id for h in rows] == [hanako, jiro, hanako]
    assert {h.status for h in rows} == {"assigned"}
    assert {h.sla_due_at for h in rows} == {NOW + timedelta(hours=24)}
    assert rows[0].reason == "round_robin in pool ae-japan"
    with database.sessions() as session:
        sent = list(session.scalars(select(Notification).order_by(Notification.id)))
    assert [(n.user_id, n.channel, n.handoff_id) for n in sent] == [
        (hanako, "in_app", rows[0].id),
        (jiro, "in_app", rows[1].id),
        (hanako, "in_app", rows[2].id),
    ]
    assert sent[0].body.startswith("Lead handed to you: 山田 太郎 (score 70)")
    assert "Task: 山田商事 に電話" in sent[0].body


def test_the_crm_gets_one_signed_webhook_per_handoff(
    database: Database, tmp_path: Path, migrated_url: str, receiver: Receiver
):
    settings = make_settings(
        tmp_path,
        migrated_url,
        webhook_allow_private=True,
        crm_webhook_url=f"{receiver.url}/crm/leads",
    )
    receiver.answer(201, b'{"id": "lead-0001"}')
    with database.unit_of_work() as session:
        owner = add_user(
            session,
            "hanako.yamada@example.jp",
            "sales",
            now=NOW,
            family_name="山田",
            given_name="花子",
        )
    (handoff_id,) = hand_off(database, ROUND_ROBIN, leads=LEADS[:1])
    process(database, settings, handoff_id)
    process(database, settings, handoff_id)  # a redelivered outbox row

    (request,) = receiver.requests
    secret = receiver_secret(settings.signing_keys()[0])
    assert verify(secret, request.headers, request.body, now=int(NOW.timestamp()))
    assert request.headers["Idempotency-Key"] == f"handoff-{handoff_id}"
    body = json.loads(request.body)
    assert body["type"] == "handoff.created"
    assert body["handoff_id"] == handoff_id
    assert body["score"] == 70
    assert body["contact"]["name"] == "山田 太郎"
    assert body["contact"]["fields"] == {"company": "山田商事", "score": 70}
    assert body["assignee"] == {"email": "hanako.yamada@example.jp", "name": "山田 花子"}
    assert body["brief"]["crm"] == {"create": "lead", "sync_fields": ["company", "score"]}
    (row,) = handoffs(database)
    assert (row.assignee_id, row.crm_status, row.crm_reference) == (owner.id, "synced", "lead-0001")
    with database.sessions() as session:
        assert len(session.scalars(select(WebhookDelivery)).all()) == 1
        assert len(session.scalars(select(Notification)).all()) == 1


def test_an_empty_pool_falls_back_and_nobody_leaves_it_unassigned(
    database: Database, settings: Settings
):
    first, second = hand_off(database, ROUND_ROBIN, leads=LEADS[:2])
    process(database, settings, first)
    with database.unit_of_work() as session:
        boss = add_user(session, "boss@example.jp", "admin", now=NOW).id
    process(database, settings, second)

    nobody, fallback = handoffs(database)
    assert (nobody.status, nobody.assignee_id) == ("unassigned", None)
    assert nobody.reason is not None
    assert nobody.reason.startswith("nobody available")
    assert (fallback.status, fallback.assignee_id) == ("assigned", boss)
    assert fallback.reason == "fallback user boss@example.jp"


def test_account_owner_hands_the_lead_to_the_contacts_owner(database: Database, settings: Settings):
    with database.unit_of_work() as session:
        add_user(session, "jiro.sato@example.jp", "sales", now=NOW)
        owner = add_user(session, "kana.takahashi@example.jp", "sales", now=NOW).id
    (handoff_id,) = hand_off(
        database,
        "{strategy: account_owner, fallback: {role: sales}}",
        leads=LEADS[:1],
        owner_id=owner,
    )
    process(database, settings, handoff_id)
    (row,) = handoffs(database)
    assert (row.assignee_id, row.reason) == (owner, "account owner")
