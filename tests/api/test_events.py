"""Event ingestion: single and batch, idempotency, limits and errors that name the field."""

from __future__ import annotations

from sqlalchemy import func, select

from engine.store.models import Contact, Event


def count(database, model) -> int:
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_single_event_creates_unknown_contact(client, admin, database):
    response = client.post(
        "/api/events",
        json={
            "type": "form_submitted",
            "email": "suzuki@example.jp",
            "properties": {"form_id": "資料請求"},
        },
        headers=admin,
    )
    assert response.status_code == 202
    assert response.json()["accepted"] == 1 and response.json()["contacts_created"] == 1
    contact = client.get("/api/contacts/suzuki@example.jp", headers=admin).json()
    assert contact["last_seen_at"] is not None


def test_properties_keep_japanese_text_nesting_and_integers_beyond_64_bits(client, admin, database):
    properties = {
        "注文番号": 2**70,
        "商品": [{"名前": "抹茶セット", "数量": 2, "価格": 3980.5}],
        "備考": "のし紙：御歳暮\n様",
    }
    response = client.post(
        "/api/events",
        json=[
            {"type": "order_completed", "email": "takahashi@example.jp", "properties": properties},
            {"type": "page_viewed", "email": "takahashi@example.jp", "properties": {"パス": "/"}},
        ],
        headers=admin,
    )
    assert response.status_code == 202 and response.json()["accepted"] == 2
    with database.sessions() as session:
        stored = session.scalars(
            select(Event.properties).where(Event.type == "order_completed")
        ).one()
    assert stored == properties


def test_idempotency_key_stores_once_across_and_within_calls(client, admin, database):
    event = {"type": "order_completed", "email": "a@example.jp", "idempotency_key": "order-1"}
    first = client.post("/api/events", json=[event, event], headers=admin).json()
    second = client.post("/api/events", json=event, headers=admin).json()
    assert first["accepted"] == 1 and first["duplicates"] == 1
    assert first["event_ids"][0] is not None and first["event_ids"][1] is None
    assert second == {"accepted": 0, "duplicates": 1, "contacts_created": 0, "event_ids": [None]}
    assert count(database, Event) == 1


def test_batch_keeps_order_of_ids_and_times(client, admin, database):
    events = [
        {
            "type": "page_viewed",
            "email": f"p{i % 3}@example.jp",
            "properties": {"n": i},
            "occurred_at": f"2026-11-{10 + i:02d}T09:00:00+09:00",
        }
        for i in range(9)
    ]
    events[4]["idempotency_key"] = "k4"
    body = client.post("/api/events", json=events, headers=admin).json()
    assert body["accepted"] == 9 and body["contacts_created"] == 3
    with database.sessions() as session:
        stored = {e.id: e for e in session.scalars(select(Event))}
    for i, event_id in enumerate(body["event_ids"]):
        assert stored[event_id].properties == {"n": i}
        assert stored[event_id].occurred_at.isoformat() == f"2026-11-{10 + i:02d}T00:00:00+00:00"


def test_invalid_event_rejects_whole_batch_naming_each_field(client, admin, database):
    response = client.post(
        "/api/events",
        json=[
            {"type": "ok", "email": "ok@example.jp"},
            {"type": "bad type", "email": "x@", "occurred_at": "2026-11-23T10:00:00", "extra": 1},
        ],
        headers=admin,
    )
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["error"]["fields"]}
    assert fields == {"[1].type", "[1].email", "[1].occurred_at", "[1].extra"}
    assert count(database, Event) == 0 and count(database, Contact) == 0


def test_malformed_json_is_400_naming_the_body(client, admin):
    response = client.post(
        "/api/events",
        content=b'[{"type": "x",',
        headers={**admin, "content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_json"
    assert error["fields"][0]["field"] == "body"


def test_oversize_batch_is_413_and_stores_nothing(client, admin, database):
    events = [{"type": "x", "email": f"u{i}@example.jp"} for i in range(10_001)]
    response = client.post("/api/events", json=events, headers=admin)
    assert response.status_code == 413
    assert "10,000" in response.json()["error"]["message"]
    assert count(database, Event) == 0


def test_full_batch_of_ten_thousand_is_accepted(client, admin, database):
    events = [{"type": "page_viewed", "email": f"u{i % 500}@example.jp"} for i in range(10_000)]
    response = client.post("/api/events", json=events, headers=admin)
    assert response.status_code == 202
    assert response.json()["accepted"] == 10_000
    assert count(database, Event) == 10_000 and count(database, Contact) == 500


def test_far_future_event_is_refused(client, admin):
    response = client.post(
        "/api/events",
        json={"type": "x", "email": "a@example.jp", "occurred_at": "2099-01-01T00:00:00Z"},
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "[0].occurred_at"


def test_body_that_is_not_an_event_is_named(client, admin):
    response = client.post("/api/events", json="hello", headers=admin)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "body"


def test_last_seen_only_moves_forward(client, admin):
    def post(at: str) -> None:
        client.post(
            "/api/events",
            json={"type": "x", "email": "t@example.jp", "occurred_at": at},
            headers=admin,
        )

    post("2026-11-20T10:00:00+09:00")
    post("2026-11-01T10:00:00+09:00")  # a late-arriving older event
    seen = client.get("/api/contacts/t@example.jp", headers=admin).json()["last_seen_at"]
    assert seen == "2026-11-20T01:00:00Z"
    post("2026-11-21T10:00:00+09:00")
    seen = client.get("/api/contacts/t@example.jp", headers=admin).json()["last_seen_at"]
    assert seen == "2026-11-21T01:00:00Z"
