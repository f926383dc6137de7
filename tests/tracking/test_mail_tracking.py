"""Sent mail tracked end to end: real SMTP, the ASGI app, the buffer and the consumer."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admin.app import create_app
from engine.store.db import Database
from engine.store.models import Event, Link, Message, OutboxMessage, TrackingEvent
from tests.engine.email.smtp_server import SmtpServer
from tests.engine.email.test_send import add_contact, body, mail_settings, queue, send, smtp
from workers.tracking import TrackingConsumer

__all__ = ["mail_settings", "smtp"]  # fixtures used here

CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari"


@pytest.fixture
def sent(database: Database, mail_settings, smtp: SmtpServer):
    contact_id = add_contact(database)
    message_id, _ = queue(database, contact_id)
    send(database, mail_settings, smtp, [message_id])
    (received,) = smtp.received
    return contact_id, message_id, body(received.message, "html"), body(received.message, "plain")


def tracked_paths(html: str) -> list[str]:
    return re.findall(r"https://mail\.nurture\.example\.jp(/t/c/[^\"']+)", html)


def test_a_click_redirects_to_the_stored_target_and_is_recorded_as_human(
    database: Database, mail_settings, sent, key_for
):
    contact_id, message_id, html, text = sent
    paths = tracked_paths(html)
    assert len(paths) >= 2  # the decoy and at least one real link
    assert "/t/c/" in text and "/t/o/" in html
    with database.sessions() as session:
        targets = dict(
            session.execute(
                select(Link.position, Link.url).where(Link.message_id == message_id)
            ).all()
        )
    app = create_app(mail_settings, database)
    with TestClient(app) as client:
        real = paths[1]
        answer = client.get(real, headers={"User-Agent": CHROME}, follow_redirects=False)
        assert answer.status_code == 302
        position = int(real.split(".")[-2])
        assert answer.headers["location"] == targets[position]
        assert "utm_medium=email" in answer.headers["location"]
        consumer = TrackingConsumer(database, app.state.tracking_buffer)
        assert consumer.step(wait=0) == 1
        timeline = client.get(
            "/api/contacts/taro.yamada@example.jp/timeline", headers=key_for("admin")
        )
    with database.sessions() as session:
        event = session.scalars(select(TrackingEvent)).one()
        assert (event.kind, event.classification, event.contact_id) == (
            "click",
            "human",
            contact_id,
        )
        assert event.url == targets[position]
        assert event.ip == "testclient" or event.ip is None
        changed = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.topic == "contacts.changed")
        )
        assert changed >= 1  # journeys and segments re-check the contact at once
        clicked = session.scalars(select(Event).where(Event.type == "email_clicked")).one()
        uid = session.scalar(select(Message.uid).where(Message.id == message_id))
        routed = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "events.route")
        ).all()
    assert (clicked.contact_id, clicked.source) == (contact_id, "tracking")
    assert clicked.properties["message"] == uid
    assert clicked.properties["url"] == targets[position]
    assert any(clicked.id in p["event_ids"] for p in routed)  # wait_for wakes on it
    summaries = [e["summary"] for e in timeline.json()["items"]]
    assert "click (human)" in summaries
    assert "email_clicked" not in summaries  # the same click is shown once


def test_the_pixel_always_answers_and_apple_prefetch_is_a_machine_open(
    database: Database, mail_settings, sent
):
    _, _, html, _ = sent
    pixel = re.search(r"https://mail\.nurture\.example\.jp(/t/o/[^\"']+\.gif)", html).group(1)
    app = create_app(mail_settings, database)
    with TestClient(app) as client:
        image = client.get(pixel, headers={"User-Agent": "Mozilla/5.0"})
        broken = client.get("/t/o/not-a-token.gif")
        consumer = TrackingConsumer(database, app.state.tracking_buffer)
        consumer.step(wait=0)
    for answer in (image, broken):
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/gif"
        assert len(answer.content) == 43
        assert "no-store" in answer.headers["cache-control"]
    with database.sessions() as session:
        event = session.scalars(select(TrackingEvent)).one()
        assert (event.kind, event.classification) == ("open", "machine")
        assert "Apple" in (event.reason or "")
        assert session.scalar(select(func.count()).select_from(Event)) == 0  # no email_opened


def test_a_hit_delivered_twice_is_stored_once_and_a_decoy_click_is_a_scanner(
    database: Database, mail_settings, sent
):
    _, _, html, _ = sent
    decoy = tracked_paths(html)[0]
    assert decoy.split(".")[-2] == "0"
    app = create_app(mail_settings, database)
    with TestClient(app) as client:
        assert client.get(decoy, follow_redirects=False).status_code == 302
        buffer = app.state.tracking_buffer
        taken = buffer.take(10, 0)
        consumer = TrackingConsumer(database, buffer)
        first, _ = consumer.write(taken)
        again, _ = consumer.write(taken)  # a crash after commit, before the acknowledgement
    assert (first.stored, again.stored, again.duplicates) == (1, 0, 1)
    with database.sessions() as session:
        event = session.scalars(select(TrackingEvent)).one()
        assert event.classification == "scanner"
        assert session.scalar(select(func.count()).select_from(Event)) == 0  # no email_clicked


def test_a_forged_click_token_redirects_nowhere_and_records_nothing(
    database: Database, mail_settings, sent
):
    _, _, html, _ = sent
    real = tracked_paths(html)[1]
    uid, position, mac = real.removeprefix("/t/c/").split(".")
    app = create_app(mail_settings, database)
    with TestClient(app) as client:
        for forged in (
            f"/t/c/{uid}.{int(position) + 1}.{mac}",
            f"/t/c/{uid}.{position}.{mac[:-1]}A"
            if mac[-1] != "A"
            else f"/t/c/{uid}.{position}.{mac[:-1]}B",
            "/t/c/https%3A%2F%2Fevil.example",
        ):
            answer = client.get(forged, follow_redirects=False)
            assert answer.status_code == 404
            assert "location" not in answer.headers
        assert app.state.tracking_buffer.depth() == 0
