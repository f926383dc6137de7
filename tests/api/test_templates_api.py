"""``/api/templates``: the list with front matter, a preview for a contact, a test send over SMTP."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from admin.app import create_app
from engine.clock import utcnow
from engine.contacts.service import ContactRow, upsert_contacts
from engine.settings import Settings
from engine.store.db import Database
from tests.engine.email.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
POSTAL = "〒100-0001 東京都千代田区千代田1-1"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Production mode refuses marketing mail without the sender's postal address."""
    return settings.model_copy(update={"postal_address": POSTAL})


def seed(database: Database) -> int:
    with database.unit_of_work() as session:
        ids = upsert_contacts(
            session,
            [
                ContactRow(
                    email="taro.yamada@example.jp",
                    first_name="太郎",
                    last_name="山田",
                    locale="ja",
                    attributes={"company": "山田商事<script>"},
                )
            ],
            now=utcnow(),
            reason="test",
        ).ids
    return ids["taro.yamada@example.jp"]


def test_list_preview_and_errors(
    client: TestClient, database: Database, key_for: Callable[..., dict[str, str]]
) -> None:
    contact_id = seed(database)
    reader = key_for("sales")

    listed = client.get("/api/templates", headers=reader)
    by_email = client.post(
        "/api/templates/seminar-thanks-ja/preview",
        json={"contact": "Taro.Yamada@example.jp"},
        headers=reader,
    )
    by_id = client.post(
        "/api/templates/seminar-thanks-ja/preview",
        json={"contact": f"#{contact_id}"},
        headers=reader,
    )
    no_template = client.post(
        "/api/templates/nope/preview", json={"contact": "taro.yamada@example.jp"}, headers=reader
    )
    no_contact = client.post(
        "/api/templates/seminar-thanks-ja/preview",
        json={"contact": "nobody@example.jp"},
        headers=reader,
    )
    bad_contact = client.post(
        "/api/templates/seminar-thanks-ja/preview", json={"contact": "@@"}, headers=reader
    )
    anonymous = client.get("/api/templates")

    assert listed.status_code == 200
    rows = {row["name"]: row for row in listed.json()}
    assert len(rows) == len(list((ROOT / "templates").glob("*.mjml")))
    thanks = rows["seminar-thanks-ja"]
    assert thanks["sender"] == "株式会社ナーチャー セミナー事務局 <seminar@nurture.example.jp>"
    assert thanks["error"] is None and "セミナー" in thanks["subject"]
    assert by_email.status_code == 200, by_email.text
    body = by_email.json()
    assert body["subject"] == "山田 様、本日はセミナーへのご参加ありがとうございました"
    assert body["from"].endswith("<seminar@nurture.example.jp>")
    assert body["to"] == "山田 太郎 <taro.yamada@example.jp>"
    assert "山田 太郎 様" in body["html"] and "山田 太郎 様" in body["text"]
    assert "/t/c/" not in body["html"]  # previews are never tracked
    assert POSTAL in body["text"]
    assert by_id.json()["html"] == body["html"]
    assert no_template.status_code == 404
    assert no_contact.status_code == 404
    assert bad_contact.status_code == 422
    assert anonymous.status_code == 401


def test_a_broken_template_is_listed_with_its_line(
    settings: Settings, database: Database, key_for: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    (folder / "broken.mjml").write_text(
        "---\nsubject: 壊れた {{ contact.last_name }\n---\n<mjml></mjml>\n", encoding="utf-8"
    )
    seed(database)
    app = create_app(settings.model_copy(update={"templates_dir": folder}), database)
    with TestClient(app) as client:
        listed = client.get("/api/templates", headers=key_for("marketer")).json()
        shown = client.post(
            "/api/templates/broken/preview",
            json={"contact": "taro.yamada@example.jp"},
            headers=key_for("marketer"),
        )

    (broken,) = [row for row in listed if row["name"] == "broken"]
    assert "templates/broken.mjml:2: unexpected '}'" in broken["error"]
    assert broken["subject"] is None
    assert shown.status_code == 422
    assert "broken.mjml:2" in shown.text


def test_test_send_mails_the_tester_over_smtp(
    settings: Settings, database: Database, key_for: Callable[..., dict[str, str]]
) -> None:
    seed(database)
    with SmtpServer() as server:
        app = create_app(settings.model_copy(update={"smtp_url": server.url}), database)
        with TestClient(app) as client:
            sent = client.post(
                "/api/templates/seminar-thanks-ja/test-send",
                json={"contact": "taro.yamada@example.jp", "to": "tester@nurture.example.jp"},
                headers=key_for("marketer"),
            )
            bad_to = client.post(
                "/api/templates/seminar-thanks-ja/test-send",
                json={"contact": "taro.yamada@example.jp", "to": "no-at-sign"},
                headers=key_for("marketer"),
            )
            sales = client.post(
                "/api/templates/seminar-thanks-ja/test-send",
                json={"contact": "taro.yamada@example.jp", "to": "tester@nurture.example.jp"},
                headers=key_for("sales"),
            )
        received = list(server.received)

    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["sent"] is True and body["to"] == "tester@nurture.example.jp"
    assert bad_to.status_code == 422 and "to" in bad_to.text
    assert sales.status_code == 403  # sales may preview, not mail
    (mail,) = received
    message = mail.message
    assert message["Message-ID"] == body["message_id"]
    assert message["Subject"].startswith("[TEST] 山田 様")
    assert mail.rcpt_tos == ["tester@nurture.example.jp"]
