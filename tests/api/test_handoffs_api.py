"""The sales API over HTTP: my handoffs, the lead brief, accept, reject with a reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from engine.store.db import Database
from engine.store.models import Contact, Event, Handoff, ScoreChange, StageChange
from tests.engine.webhooks.support import add_contact, add_user

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def seed(database: Database) -> tuple[int, int, int, int]:
    """Two reps with one MQL handed to each; return (hanako, jiro, her handoff, his handoff)."""
    with database.unit_of_work() as session:
        hanako = add_user(session, "hanako.sato@example.jp", "sales", now=NOW).id
        jiro = add_user(session, "jiro.ito@example.jp", "sales", now=NOW).id
        handoffs = []
        for n, rep in enumerate((hanako, jiro)):
            contact = add_contact(
                session, f"lead{n}@example.jp", now=NOW, lifecycle_stage="mql", score=75, grade="A"
            )
            session.add(
                ScoreChange(
                    contact_id=contact.id,
                    model="default",
                    delta=30,
                    score_after=75,
                    reason="デモ依頼フォーム送信",
                    rule="demo_request",
                    occurred_at=NOW,
                )
            )
            handoff = Handoff(
                contact_id=contact.id,
                assignee_id=rep,
                pool="inside-sales",
                status="assigned",
                brief={},
                created_at=NOW,
                sla_due_at=NOW + timedelta(hours=4),
                reason="round_robin in pool inside-sales",
            )
            session.add(handoff)
            session.flush()
            handoffs.append(handoff.id)
    return hanako, jiro, handoffs[0], handoffs[1]


def test_a_sales_key_sees_only_its_users_handoffs_with_the_brief(
    client: TestClient, database: Database, key_for: Callable[..., dict[str, str]]
) -> None:
    hanako, _, hers, his = seed(database)
    mine = key_for("sales", user_id=hanako)

    listed = client.get("/api/handoffs", headers=mine)
    assert listed.status_code == 200, listed.text
    assert [h["id"] for h in listed.json()["items"]] == [hers]
    assert client.get(f"/api/handoffs/{his}", headers=mine).status_code == 404
    detail = client.get(f"/api/handoffs/{hers}", headers=mine).json()
    assert (detail["score"], detail["grade"], detail["status"]) == (75, "A", "assigned")
    assert detail["brief"]["score_reasons"][0]["reason"] == "デモ依頼フォーム送信"
    assert detail["brief"]["timeline"].endswith("/api/contacts/lead0@example.jp/timeline")

    everyone = client.get("/api/handoffs?status=assigned", headers=key_for("marketer")).json()
    assert sorted(h["id"] for h in everyone["items"]) == [hers, his]
    assert client.get("/api/handoffs", headers=key_for("sales")).status_code == 403


def test_accept_makes_an_sql_once_and_reject_recycles_with_an_event(
    client: TestClient, database: Database, key_for: Callable[..., dict[str, str]]
) -> None:
    hanako, jiro, hers, his = seed(database)
    her_key, his_key = key_for("sales", user_id=hanako), key_for("sales", user_id=jiro)

    accepted = client.post(f"/api/handoffs/{hers}/accept", headers=her_key)
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["lifecycle_stage"]) == ("accepted", "sql")
    assert client.post(f"/api/handoffs/{hers}/accept", headers=her_key).status_code == 409
    assert client.post(f"/api/handoffs/{his}/accept", headers=her_key).status_code == 404

    refused = client.post(f"/api/handoffs/{his}/reject", headers=his_key, json={"reason": ""})
    assert refused.status_code == 422
    rejected = client.post(
        f"/api/handoffs/{his}/reject", headers=his_key, json={"reason": "予算は来期"}
    )
    assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert (body["status"], body["lifecycle_stage"]) == ("rejected", "recycled")
    assert body["rejection"]["reason"] == "予算は来期"
    with database.sessions() as session:
        contact_id = session.scalars(
            select(Contact.id).where(Contact.email == "lead1@example.jp")
        ).one()
        (event,) = session.scalars(select(Event).where(Event.type == "handoff_rejected")).all()
        stages = session.execute(
            select(StageChange.from_stage, StageChange.to_stage).order_by(StageChange.id)
        ).all()
    assert (event.contact_id, event.properties) == (
        contact_id,
        {"handoff_id": his, "reason": "予算は来期"},
    )
    assert [tuple(s) for s in stages] == [("mql", "sql"), ("mql", "recycled")]
