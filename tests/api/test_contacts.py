"""Contacts API: upsert, read, patch, erase, list, consent, tags — with Japanese data."""

from __future__ import annotations

from sqlalchemy import func, select

from engine.store.models import ConsentRecord, Contact, Erasure, Event, StageChange

YAMADA = {
    "email": "Taro.Yamada@Example.CO.JP",
    "first_name": "太郎",
    "last_name": "山田",
    "timezone": "Asia/Tokyo",
    "locale": "ja",
    "attributes": {"company": "株式会社ノースウィンド", "subscription": {"end_date": "2027-03-31"}},
}


def test_upsert_creates_then_updates_by_email_in_any_case(client, admin, database):
    created = client.post("/api/contacts", json=YAMADA, headers=admin)
    assert created.status_code == 201
    body = created.json()
    assert body["email"] == "taro.yamada@example.co.jp"
    assert body["display_name"] == "山田 太郎"  # family name first in Japanese
    assert body["lifecycle_stage"] == "subscriber"
    assert body["score"] == 0 and body["grade"] is None

    again = client.post(
        "/api/contacts",
        json={
            "email": "TARO.YAMADA@example.co.jp",
            "attributes": {"subscription": {"plan": "pro"}},
        },
        headers=admin,
    )
    assert again.status_code == 200
    assert again.json()["first_name"] == "太郎"  # fields left out keep their value
    assert again.json()["attributes"] == {
        "company": "株式会社ノースウィンド",
        "subscription": {"end_date": "2027-03-31", "plan": "pro"},
    }
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 1


def test_get_returns_score_grade_stage_tags_and_consent(client, admin):
    client.post(
        "/api/contacts",
        json={
            **YAMADA,
            "lifecycle_stage": "lead",
            "tags": ["セミナー参加", "vip"],
            "consent": [
                {"granted": True, "source": "form:seminar", "text": "お知らせメールを受け取る"}
            ],
        },
        headers=admin,
    )
    got = client.get("/api/contacts/taro.yamada@example.co.jp", headers=admin)
    assert got.status_code == 200
    body = got.json()
    assert (body["score"], body["grade"], body["lifecycle_stage"]) == (0, None, "lead")
    assert body["tags"] == ["vip", "セミナー参加"]
    assert body["subscriptions"] == {"marketing_email": True}


def test_invalid_contact_names_every_bad_field(client, admin, database):
    response = client.post(
        "/api/contacts",
        json={"email": "not-an-email", "timezone": "Tokyo", "locale": "日本語", "colour": "red"},
        headers=admin,
    )
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["error"]["fields"]}
    assert fields == {"email", "timezone", "locale", "colour"}
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_patch_clears_and_merges_and_records_stage_change(client, admin, database):
    client.post("/api/contacts", json={**YAMADA, "lifecycle_stage": "lead"}, headers=admin)
    response = client.patch(
        "/api/contacts/taro.yamada@example.co.jp",
        json={
            "first_name": None,
            "lifecycle_stage": "mql",
            "attributes": {"subscription": {"end_date": None}},
        },
        headers=admin,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["first_name"] is None
    assert body["attributes"] == {"company": "株式会社ノースウィンド", "subscription": {}}
    with database.sessions() as session:
        stages = session.execute(
            select(StageChange.from_stage, StageChange.to_stage).order_by(StageChange.id)
        ).all()
    assert [tuple(s) for s in stages] == [(None, "lead"), ("lead", "mql")]


def test_patch_to_an_email_in_use_is_a_conflict(client, admin):
    client.post("/api/contacts", json=YAMADA, headers=admin)
    client.post("/api/contacts", json={"email": "hanako@example.jp"}, headers=admin)
    response = client.patch(
        "/api/contacts/hanako@example.jp",
        json={"email": "taro.yamada@example.co.jp"},
        headers=admin,
    )
    assert response.status_code == 409
    assert response.json()["error"]["fields"][0]["field"] == "email"


def test_delete_erases_personal_data_and_keeps_a_hash(client, admin, database):
    client.post(
        "/api/contacts",
        json={**YAMADA, "consent": [{"granted": True, "source": "import"}]},
        headers=admin,
    )
    client.post(
        "/api/events", json={"type": "page_viewed", "email": YAMADA["email"]}, headers=admin
    )
    assert (
        client.delete("/api/contacts/taro.yamada@example.co.jp", headers=admin).status_code == 204
    )
    assert client.get("/api/contacts/taro.yamada@example.co.jp", headers=admin).status_code == 404
    with database.sessions() as session:
        for model in (Contact, Event, ConsentRecord):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        assert session.scalar(select(func.count()).select_from(Erasure)) == 1


def test_list_is_keyset_paginated_and_filtered(client, admin):
    for i in range(7):
        client.post(
            "/api/contacts",
            json={
                "email": f"user{i}@example.jp",
                "attributes": {"company": "ノース" if i % 2 else "South"},
            },
            headers=admin,
        )
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/contacts", params=params, headers=admin).json()
        seen += [c["email"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"user{i}@example.jp" for i in range(7)]
    north = client.get("/api/contacts", params={"attr.company": "ノース"}, headers=admin).json()
    assert [c["email"] for c in north["items"]] == [
        "user1@example.jp",
        "user3@example.jp",
        "user5@example.jp",
    ]
    search = client.get("/api/contacts", params={"q": "USER4"}, headers=admin).json()
    assert [c["email"] for c in search["items"]] == ["user4@example.jp"]


def test_bad_cursor_is_named(client, admin):
    response = client.get("/api/contacts", params={"cursor": "garbage!"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "cursor"


def test_scopes_are_enforced(client, key_for):
    ingest = key_for("ingest")
    sales = key_for("sales")
    assert (
        client.post("/api/contacts", json={"email": "a@example.jp"}, headers=ingest).status_code
        == 403
    )
    assert (
        client.post(
            "/api/events", json={"type": "x", "email": "a@example.jp"}, headers=ingest
        ).status_code
        == 202
    )
    assert client.get("/api/contacts/a@example.jp", headers=ingest).status_code == 403
    assert client.get("/api/contacts/a@example.jp", headers=sales).status_code == 200
    assert client.delete("/api/contacts/a@example.jp", headers=sales).status_code == 403
    assert client.get("/api/contacts/a@example.jp").status_code == 401
    bad = {"Authorization": "Bearer nk_000000000000_wrong"}
    assert client.get("/api/contacts/a@example.jp", headers=bad).status_code == 401


def test_tags_and_consent_endpoints(client, admin):
    client.post("/api/contacts", json=YAMADA, headers=admin)
    tagged = client.post(
        "/api/contacts/taro.yamada@example.co.jp/tags", json={"add": ["a", "b"]}, headers=admin
    )
    assert tagged.json()["tags"] == ["a", "b"]
    untagged = client.post(
        "/api/contacts/taro.yamada@example.co.jp/tags", json={"remove": ["a"]}, headers=admin
    )
    assert untagged.json()["tags"] == ["b"]
    withdrawn = client.post(
        "/api/contacts/taro.yamada@example.co.jp/consent",
        json={"topic": "newsletter", "granted": False, "source": "preference-center"},
        headers=admin,
    )
    assert withdrawn.json()["subscriptions"] == {"newsletter": False}
