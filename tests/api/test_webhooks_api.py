"""The dead-letter list and manual retry, and a user's notification inbox, over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from engine.store.db import Database
from engine.store.models import Notification, WebhookDelivery
from engine.webhooks import service
from tests.engine.webhooks.support import add_user

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def deliveries(database: Database, dead: int, delivered: int) -> list[int]:
    with database.unit_of_work() as session:
        ids = [
            service.queue_delivery(
                session,
                webhook_id=f"msg_{n}",
                kind="crm",
                url="https://crm.example.jp/leads",
                body='{"会社":"山田商事"}',
                headers={},
                now=NOW,
            )
            for n in range(dead + delivered)
        ]
        for n, delivery_id in enumerate(ids):
            row = session.get(WebhookDelivery, delivery_id)
            row.status = "dead" if n < dead else "delivered"
            row.attempts = 13 if n < dead else 1
            row.last_error = "HTTP 410: gone" if n < dead else None
    return ids


def test_the_dead_letter_list_is_paged_newest_first(
    client: TestClient, database: Database, key_for: Callable[..., dict[str, str]]
):
    ids = deliveries(database, dead=3, delivered=2)
    headers = key_for("marketer")
    first = client.get("/api/webhooks/deliveries?status=dead&limit=2", headers=headers)
    assert first.status_code == 200, first.text
    page = first.json()
    rest = client.get(
        f"/api/webhooks/deliveries?status=dead&limit=2&cursor={page['next_cursor']}",
        headers=headers,
    ).json()
    assert [d["id"] for d in page["items"]] == [ids[2], ids[1]]
    assert [d["id"] for d in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None
    assert page["items"][0]["last_error"] == "HTTP 410: gone"


def test_a_retry_re_arms_a_dead_delivery_once(
    client: TestClient, database: Database, key_for: Callable[..., dict[str, str]]
):
    dead, delivered = deliveries(database, dead=1, delivered=1)
    headers = key_for("marketer")
    retried = client.post(f"/api/webhooks/deliveries/{dead}/retry", headers=headers)
    again = client.post(f"/api/webhooks/deliveries/{dead}/retry", headers=headers)
    not_dead = client.post(f"/api/webhooks/deliveries/{delivered}/retry", headers=headers)
    missing = client.post("/api/webhooks/deliveries/999999/retry", headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending"
    assert retried.json()["webhook_id"] == "msg_0"
    assert retried.json()["attempts"] == 0
    assert (again.status_code, not_dead.status_code, missing.status_code) == (409, 409, 404)


def test_deliveries_need_a_marketer_key(client: TestClient, key_for: Callable[..., dict[str, str]]):
    assert client.get("/api/webhooks/deliveries", headers=key_for("sales")).status_code == 403
    assert (
        client.get("/api/webhooks/deliveries?status=lost", headers=key_for("admin")).status_code
        == 422
    )


def test_the_inbox_is_the_calling_users_own(
    client: TestClient, database: Database, key_for: Callable[..., dict[str, str]]
):
    with database.unit_of_work() as session:
        hanako = add_user(session, "hanako.yamada@example.jp", "sales", now=NOW).id
        jiro = add_user(session, "jiro.sato@example.jp", "sales", now=NOW).id
        for user_id, key in ((hanako, "h"), (jiro, "j")):
            session.add(
                Notification(
                    idempotency_key=key,
                    channel="in_app",
                    recipient="-",
                    user_id=user_id,
                    subject="山田 太郎: デモ依頼",
                    body="山田 様からデモ依頼",
                    status="sent",
                    created_at=NOW,
                )
            )
    mine = key_for("sales", user_id=hanako)
    inbox = client.get("/api/notifications", headers=mine).json()["items"]
    (note,) = inbox
    assert note["subject"] == "山田 太郎: デモ依頼"
    read = client.post(f"/api/notifications/{note['id']}/read", headers=mine)
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    unread = client.get("/api/notifications?unread=true", headers=mine).json()["items"]
    assert unread == []
    others = client.get("/api/notifications", headers=key_for("sales", user_id=jiro)).json()
    assert [n["id"] for n in others["items"]] != [note["id"]]
    stranger = client.post(
        f"/api/notifications/{note['id']}/read", headers=key_for("sales", user_id=jiro)
    )
    assert stranger.status_code == 404
    assert client.get("/api/notifications", headers=key_for("marketer")).status_code == 403
