"""The handoff SLA: a reminder after remind_after and an escalation at accept_within, once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from engine.handoffs.sla import run_sla
from engine.scoring.config import store_scoring
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Handoff, Notification
from tests.engine.webhooks.support import add_contact, add_user

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
SCORING = """\
models: {default: {}}
sla: {accept_within: 4h, remind_after: 2h, escalate_to: manager@example.jp}
"""


def sweep(database: Database, settings: Settings, at: datetime) -> list[tuple[str, str]]:
    with database.unit_of_work() as session:
        run_sla(session, now=at, settings=settings)
    with database.sessions() as session:
        return [
            (n.recipient, n.idempotency_key)
            for n in session.scalars(select(Notification).order_by(Notification.id))
        ]


def test_reminder_then_escalation_each_once(database: Database, settings: Settings) -> None:
    with database.unit_of_work() as session:
        store_scoring(session, SCORING, now=NOW)
        rep = add_user(session, "hanako.sato@example.jp", "sales", now=NOW).id
        manager = add_user(session, "manager@example.jp", "admin", now=NOW).id
        lead = add_contact(session, "taro.yamada@example.jp", now=NOW).id
        answered = add_contact(session, "ken@example.jp", now=NOW).id
        for contact_id, status in ((lead, "assigned"), (answered, "accepted")):
            session.add(
                Handoff(
                    contact_id=contact_id,
                    assignee_id=rep,
                    status=status,
                    brief={},
                    created_at=NOW,
                    sla_due_at=NOW + timedelta(hours=4),
                    responded_at=NOW if status == "accepted" else None,
                )
            )
    assert sweep(database, settings, NOW + timedelta(hours=1)) == []
    reminded = sweep(database, settings, NOW + timedelta(hours=2))
    assert sweep(database, settings, NOW + timedelta(hours=3)) == reminded  # not twice
    (handoff_id,) = [k.split(":")[1] for _, k in reminded]
    assert reminded == [("hanako.sato@example.jp", f"handoff:{handoff_id}:reminder:{rep}")]

    after = sweep(database, settings, NOW + timedelta(hours=4))
    assert sweep(database, settings, NOW + timedelta(hours=5)) == after
    assert after == [
        *reminded,
        ("manager@example.jp", f"handoff:{handoff_id}:escalation:{manager}"),
    ]
    with database.sessions() as session:
        statuses = sorted(session.scalars(select(Handoff.status)))
    assert statuses == ["accepted", "escalated"]
    with database.sessions() as session:
        body = session.scalars(
            select(Notification.body).where(Notification.user_id == manager)
        ).one()
    assert "Escalated: lead 山田 太郎 not accepted in time" in body
