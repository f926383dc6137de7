"""``/api/broadcasts``: create from YAML (with placed errors), read, schedule, cancel."""

from __future__ import annotations

from fastapi.testclient import TestClient

from engine.broadcasts.service import advance
from engine.clock import utcnow
from engine.store.db import Database
from tests.engine.broadcasts.people import AB, DOMAIN, add_people

BROKEN = AB.replace("sample: 20%", "sample: 0%").replace("template: seminar-thanks-ja", "")


def test_a_broadcast_goes_from_draft_to_sending_its_sample(
    client: TestClient, admin: dict[str, str], database: Database
) -> None:
    add_people(database, 10)

    created = client.post("/api/broadcasts", json={"source": AB}, headers=admin)
    again = client.post("/api/broadcasts", json={"source": AB}, headers=admin)
    sent = client.post("/api/broadcasts/autumn_ab/send", json={}, headers=admin)
    resend = client.post("/api/broadcasts/autumn_ab/send", headers=admin)
    advance(database, now=utcnow(), message_domain=DOMAIN)
    shown = client.get("/api/broadcasts/autumn_ab", headers=admin)
    listed = client.get("/api/broadcasts", headers=admin)

    assert created.status_code == 201, created.text
    assert (created.json()["status"], created.json()["name"]) == (
        "draft",
        "秋のお知らせ（件名テスト）",
    )
    assert again.status_code == 409
    assert (sent.status_code, sent.json()["status"]) == (200, "scheduled")
    assert resend.status_code == 409
    body = shown.json()
    assert (body["status"], body["phase"]) == ("sending", "waiting")
    assert (
        sum(body["variants"][v].get("queued", 0) for v in ("A", "B")) == body["messages"]["queued"]
    )
    assert [b["id"] for b in listed.json()] == ["autumn_ab"]


def test_errors_name_the_file_line_and_field(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/broadcasts", json={"source": BROKEN, "filename": "autumn.yaml"}, headers=admin
    )

    assert response.status_code == 422
    fields = [p["field"] for p in response.json()["error"]["fields"]]
    assert fields == ["autumn.yaml:1:1 template", "autumn.yaml:10:11 ab.sample"]


def test_cancel_and_unknown(client: TestClient, admin: dict[str, str]) -> None:
    client.post("/api/broadcasts", json={"source": AB}, headers=admin)

    cancelled = client.post("/api/broadcasts/autumn_ab/cancel", headers=admin)
    twice = client.post("/api/broadcasts/autumn_ab/cancel", headers=admin)
    unknown = client.get("/api/broadcasts/nothing", headers=admin)

    assert cancelled.json()["status"] == "cancelled"
    assert (twice.status_code, unknown.status_code) == (409, 404)
