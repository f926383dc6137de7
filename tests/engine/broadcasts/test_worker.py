"""A broadcast through the real processes' parts: API → scheduler job → relay → email.send → SMTP."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.broadcasts.walk import SEND_BROADCAST_EMAIL
from engine.store.db import Database
from engine.store.models import OutboxMessage
from tests.engine.broadcasts.people import PLAIN, add_people
from tests.engine.email.smtp_server import SmtpServer
from tests.workers.conftest import make_settings
from tests.workers.stack import Stack
from workers import email
from workers.jobs import advance_broadcasts
from workers.relay import relay

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def stack(database: Database, tmp_path: Path) -> Iterator[tuple[Stack, SmtpServer]]:
    with SmtpServer() as smtp:
        settings = make_settings(tmp_path, database.url).model_copy(
            update={
                "smtp_url": smtp.url,
                "templates_dir": ROOT / "templates",
                "postal_address": "〒100-0001 東京都千代田区千代田1-1",
                "public_url": "https://mail.nurture.example.jp",
            }
        )
        running = Stack(settings, database, "nurture-broadcast-test")
        try:
            yield running, smtp
        finally:
            running.close()


def test_a_broadcast_is_mailed_by_the_worker_and_finishes(
    stack: tuple[Stack, SmtpServer], database: Database
) -> None:
    running, smtp = stack
    headers = running.key("marketer")
    add_people(database, 3)
    assert running.client.post(
        "/api/broadcasts", json={"source": PLAIN}, headers=headers
    ).is_success
    assert running.client.post("/api/broadcasts/autumn_news/send", headers=headers).is_success

    queued = advance_broadcasts(running.runtime)
    relay(running.runtime)
    running.drain(email.EMAIL_QUEUE)
    advance_broadcasts(running.runtime)

    assert queued == 3
    subjects = sorted(
        str(make_header(decode_header(message_from_bytes(r.raw)["Subject"]))) for r in smtp.received
    )
    assert subjects == [f"佐藤{i} 様、秋の新機能のお知らせ" for i in range(3)]
    view = running.client.get("/api/broadcasts/autumn_news", headers=headers).json()
    assert (view["status"], view["messages"]) == ("finished", {"sent": 3})
    with database.sessions() as session:
        pending = session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.topic == SEND_BROADCAST_EMAIL, OutboxMessage.done_at.is_(None)
            )
        ).all()
    assert pending == []
