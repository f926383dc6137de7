"""``POST /api/bounces`` through the real ASGI app, on both databases."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from engine.store.db import Database
from engine.store.models import Bounce, Suppression
from tests.engine.bounces.mail import arf, japanese_text_bounce
from tests.engine.bounces.test_service import YAMADA, sent_message


def test_a_forwarded_bounce_is_applied_once_and_reported(
    client: TestClient, database: Database, key_for: Callable[..., dict[str, str]]
) -> None:
    _, message_id, uid, _ = sent_message(database)
    headers = key_for("ingest") | {
        "Content-Type": "message/rfc822",
        "X-Envelope-To": f"bounces+{uid}@bounces.nurture.example.jp",
    }
    raw = japanese_text_bounce(YAMADA.email)

    first = client.post("/api/bounces", content=raw, headers=headers)
    again = client.post("/api/bounces", content=raw, headers=headers)

    assert first.status_code == 202, first.text
    body = first.json()
    assert body["verdicts"][0]["kind"] == "hard"
    assert "存在しません" in body["verdicts"][0]["diagnostic"]
    assert (body["recorded"], body["suppressed"]) == (1, {YAMADA.email: "hard_bounce"})
    assert (again.json()["recorded"], again.json()["duplicates"]) == (0, 1)
    with database.sessions() as session:
        assert session.scalars(select(Bounce.message_id)).all() == [message_id]


def test_a_complaint_by_http_suppresses(
    client: TestClient, database: Database, key_for: Callable[..., dict[str, str]]
) -> None:
    _, _, _, header_id = sent_message(database)
    response = client.post(
        "/api/bounces",
        content=arf(YAMADA.email, message_id=header_id),
        headers=key_for("ingest") | {"Content-Type": "message/rfc822"},
    )
    assert response.status_code == 202, response.text
    with database.sessions() as session:
        assert session.scalar(select(Suppression.reason)) == "complaint"


def test_bad_requests_name_the_problem(
    client: TestClient, key_for: Callable[..., dict[str, str]]
) -> None:
    headers = key_for("ingest")
    wrong_type = client.post(
        "/api/bounces", content=b"{}", headers=headers | {"Content-Type": "application/json"}
    )
    empty = client.post(
        "/api/bounces", content=b"", headers=headers | {"Content-Type": "message/rfc822"}
    )
    anonymous = client.post(
        "/api/bounces", content=b"x", headers={"Content-Type": "message/rfc822"}
    )

    assert wrong_type.status_code == 422 and "content-type" in wrong_type.text
    assert empty.status_code == 422 and "body" in empty.text
    assert anonymous.status_code == 401
