"""Webhook deliveries against a real loopback receiver, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.errors import Conflict
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import WebhookDelivery
from engine.webhooks import service
from engine.webhooks.signing import receiver_secret, verify
from tests.engine.webhooks.support import Receiver, make_settings

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def call(url: str, key: str = "41:push:1", **fields) -> dict:
    """A ``webhook.call`` outbox payload as the runtime writes it."""
    return {
        "enrollment_id": None,
        "kind": "CallWebhook",
        "step": "push",
        "method": "POST",
        "url": url,
        "headers": {"X-Source": "nurture"},
        "body": {"event": "signed_up", "氏名": "山田 太郎"},
        "timeout": 2.0,
        "idempotency_key": key,
        "key_template": None,
        "on_failure": None,
        **fields,
    }


def record_and_attempt(database: Database, settings: Settings, payload: dict, now: datetime):
    with database.unit_of_work() as session:
        delivery_id = service.record_journey_call(session, payload, now=now)
        leased = service.claim(session, now=now, ids=[delivery_id])
    statuses = service.deliver(database, leased, settings=settings, clock=lambda: now)
    return delivery_id, statuses


def delivery(database: Database, delivery_id: int) -> WebhookDelivery:
    with database.sessions() as session:
        found = session.get(WebhookDelivery, delivery_id)
        assert found is not None
        return found


def test_a_delivery_is_signed_so_the_receiver_can_verify_it(
    database: Database, open_settings: Settings, receiver: Receiver
):
    payload = call(f"{receiver.url}/hooks/crm", key_template="crm-41")
    delivery_id, statuses = record_and_attempt(database, open_settings, payload, NOW)

    assert statuses == ["delivered"]
    (request,) = receiver.requests
    assert request.path == "/hooks/crm"
    assert json.loads(request.body) == {"event": "signed_up", "氏名": "山田 太郎"}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "crm-41"
    assert request.headers["X-Source"] == "nurture"
    assert request.headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    secret = receiver_secret(open_settings.signing_keys()[0])
    assert verify(secret, request.headers, request.body, now=int(NOW.timestamp()))
    row = delivery(database, delivery_id)
    assert (row.status, row.attempts, row.last_status, row.webhook_id) == (
        "delivered",
        1,
        200,
        request.headers["webhook-id"],
    )


def test_without_a_key_template_the_idempotency_key_is_the_step_runs(
    database: Database, open_settings: Settings, receiver: Receiver
):
    record_and_attempt(database, open_settings, call(receiver.url, key="41:push:2"), NOW)
    assert receiver.requests[0].headers["Idempotency-Key"] == "41:push:2"


def test_a_500_is_retried_later_under_the_same_webhook_id(
    database: Database, open_settings: Settings, receiver: Receiver
):
    receiver.answer(500, "一時的な障害".encode())
    delivery_id, statuses = record_and_attempt(database, open_settings, call(receiver.url), NOW)
    assert statuses == ["pending"]
    first = delivery(database, delivery_id)
    assert first.last_status == 500
    assert "一時的な障害" in (first.last_error or "")
    assert timedelta(seconds=24) <= first.next_attempt_at - NOW <= timedelta(seconds=36)

    with database.unit_of_work() as session:
        assert service.claim(session, now=NOW + timedelta(seconds=10)) == []  # not due yet
    later = first.next_attempt_at
    with database.unit_of_work() as session:
        leased = service.claim(session, now=later)
    assert [a.number for a in leased] == [2]
    assert service.deliver(database, leased, settings=open_settings, clock=lambda: later) == [
        "delivered"
    ]

    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 2
    assert ids == {first.webhook_id}
    stamps = [r.headers["webhook-timestamp"] for r in receiver.requests]
    assert stamps[0] != stamps[1]  # re-signed at each attempt
    assert delivery(database, delivery_id).status == "delivered"


def test_a_410_is_dead_at_once(database: Database, open_settings: Settings, receiver: Receiver):
    receiver.answer(410, b'{"error": "gone"}')
    delivery_id, statuses = record_and_attempt(database, open_settings, call(receiver.url), NOW)
    row = delivery(database, delivery_id)
    assert statuses == ["dead"]
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 1, None)
    assert row.last_error is not None
    assert row.last_error.startswith("HTTP 410")


def test_a_timeout_is_retried(database: Database, open_settings: Settings, receiver: Receiver):
    receiver.answer(200, delay=1.5)
    payload = call(receiver.url, timeout=0.3)
    with database.unit_of_work() as session:
        delivery_id = service.record_journey_call(session, payload, now=NOW)
        leased = service.claim(session, now=NOW, ids=[delivery_id], timeout=timedelta(seconds=0.3))
    statuses = service.deliver(database, leased, settings=open_settings, clock=lambda: NOW)
    row = delivery(database, delivery_id)
    assert statuses == ["pending"]
    assert row.last_status is None
    assert "no answer within 0.3 s" in (row.last_error or "")
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > NOW


def test_the_last_failed_attempt_is_dead(
    database: Database, open_settings: Settings, receiver: Receiver
):
    receiver.answer(503)
    receiver.answer(503)
    with database.unit_of_work() as session:
        delivery_id = service.queue_delivery(
            session,
            webhook_id="msg_last",
            kind="crm",
            url=receiver.url,
            body="{}",
            headers={},
            now=NOW,
            max_attempts=2,
        )
    for at in (NOW, NOW + timedelta(hours=1)):
        with database.unit_of_work() as session:
            leased = service.claim(session, now=at)
        service.deliver(database, leased, settings=open_settings, clock=lambda at=at: at)
    row = delivery(database, delivery_id)
    assert (row.status, row.attempts) == ("dead", 2)
    assert (row.last_error or "").startswith("gave up after 2 attempts: HTTP 503")


@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254", "10.0.0.1"])
def test_internal_addresses_are_refused_when_private_ones_are_not_allowed(
    database: Database, tmp_path: Path, migrated_url: str, receiver: Receiver, host: str
):
    settings = make_settings(tmp_path, migrated_url)  # webhook_allow_private off: the default
    port = receiver.url.rsplit(":", 1)[1]
    delivery_id, statuses = record_and_attempt(
        database, settings, call(f"http://{host}:{port}/hook"), NOW
    )
    row = delivery(database, delivery_id)
    assert statuses == ["dead"]
    assert receiver.requests == []
    assert f"{host} refused" in (row.last_error or "")


def test_a_redelivered_call_records_one_delivery_and_sends_once(
    database: Database, open_settings: Settings, receiver: Receiver
):
    payload = call(receiver.url)
    first, _ = record_and_attempt(database, open_settings, payload, NOW)
    again, statuses = record_and_attempt(database, open_settings, payload, NOW)
    assert again == first
    assert statuses == []  # nothing due: the first attempt delivered it
    with database.sessions() as session:
        assert len(session.scalars(select(WebhookDelivery)).all()) == 1
    assert len(receiver.requests) == 1


def test_a_lease_is_taken_once_and_a_stale_claim_sends_nothing(database: Database):
    with database.unit_of_work() as session:
        service.queue_delivery(
            session,
            webhook_id="msg_lease",
            kind="crm",
            url="http://192.0.2.1/",
            body=None,
            headers={},
            now=NOW,
        )
    with database.unit_of_work() as session:
        first = service.claim(session, now=NOW)
    with database.unit_of_work() as session:
        second = service.claim(session, now=NOW)
    assert [a.number for a in first] == [1]
    assert second == []
    # The lease ran out (its worker died): the sweep leases attempt 2; attempt 1 is stale.
    with database.unit_of_work() as session:
        retaken = service.claim(session, now=NOW + service.LEASE + timedelta(seconds=1))
        assert [a.number for a in retaken] == [2]
        assert service.leased(session, [(first[0].id, 1)]) == []
        assert [a.number for a in service.leased(session, [(first[0].id, 2)])] == [2]


def test_a_dead_delivery_is_re_armed_with_the_same_webhook_id(
    database: Database, open_settings: Settings, receiver: Receiver
):
    receiver.answer(404)
    delivery_id, _ = record_and_attempt(database, open_settings, call(receiver.url), NOW)
    later = NOW + timedelta(hours=2)
    with database.unit_of_work() as session:
        out = service.retry_dead(session, delivery_id, now=later)
    assert (out.status, out.attempts) == ("pending", 0)
    with database.unit_of_work() as session:
        leased = service.claim(session, now=later)
    assert service.deliver(database, leased, settings=open_settings, clock=lambda: later) == [
        "delivered"
    ]
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    with database.unit_of_work() as session, pytest.raises(Conflict):
        service.retry_dead(session, delivery_id, now=later)


def test_the_dead_letter_list_is_newest_first_and_paged(database: Database):
    with database.unit_of_work() as session:
        for n in range(5):
            service.queue_delivery(
                session,
                webhook_id=f"msg_{n}",
                kind="crm",
                url="https://crm.example.jp/",
                body=None,
                headers={},
                now=NOW,
            )
        session.execute(
            WebhookDelivery.__table__.update()
            .where(WebhookDelivery.webhook_id != "msg_2")
            .values(status="dead")
        )
    with database.sessions() as session:
        page, following = service.list_deliveries(session, limit=2, status="dead")
        rest, last = service.list_deliveries(session, limit=2, status="dead", before=following)
    assert [d.webhook_id for d in page] == ["msg_4", "msg_3"]
    assert [d.webhook_id for d in rest] == ["msg_1", "msg_0"]
    assert last is None
