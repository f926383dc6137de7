"""``notify`` steps: one row per recipient, in the admin UI, by email or in Slack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.email.capture import CaptureServer, list_captured, read_captured
from engine.notifications import service
from engine.runtime.advance import advance
from engine.runtime.enroll import enroll_contacts
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.topics import NOTIFY
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Enrollment, Notification, WebhookDelivery
from tests.engine.webhooks.support import (
    Receiver,
    add_contact,
    add_user,
    make_settings,
    outbox_rows,
)
from tests.publishing import publish_source as publish

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)

JOURNEY = """\
dsl: journey/v1
id: seminar-alert
name: セミナー申込アラート
version: 1
triggers:
  - event: seminar_registered
start: tell
steps:
  tell:
    type: notify
    to: {owner_of: contact}
    channel: in_app
    message: "{{ contact.last_name }} 様がセミナーに申し込みました"
    next: done
  done: {type: exit, reason: notified}
"""


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[CaptureServer]:
    with CaptureServer(tmp_path / "mail", port=0) as capture:
        yield capture


@pytest.fixture
def team(database: Database) -> dict[str, int]:
    """Three active sales users (one owns 山田 太郎), one away, and a marketer."""
    with database.unit_of_work() as session:
        users = {
            "hanako": add_user(session, "hanako.yamada@example.jp", "sales", now=NOW).id,
            "jiro": add_user(session, "jiro.sato@example.jp", "sales", now=NOW).id,
            "ichiro": add_user(
                session, "ichiro.suzuki@example.jp", "sales", now=NOW, active=False
            ).id,
            "kana": add_user(session, "kana.takahashi@example.jp", "marketer", now=NOW).id,
        }
        add_contact(session, "taro.yamada@example.jp", now=NOW, owner_id=users["hanako"])
    return users


def payload(database: Database, **change) -> dict:
    """The journey's real ``notify`` payload, with ``change`` applied."""
    journeys = CompiledJourneys()
    with database.unit_of_work() as session:
        if not outbox_rows(session, NOTIFY):
            journey = publish(session, JOURNEY, now=NOW)
            enroll_contacts(session, journey, [1], now=NOW, journeys=journeys)
            ids = list(session.scalars(select(Enrollment.id)))
            advance(session, ids, now=NOW, journeys=journeys, message_domain="example.jp")
        (row,) = outbox_rows(session, NOTIFY)
    return {**row.payload, **change}


def record(database: Database, settings: Settings, data: dict) -> service.Outgoing:
    with database.unit_of_work() as session:
        return service.record_notify(session, data, now=NOW, settings=settings)


def notifications(database: Database) -> list[Notification]:
    with database.sessions() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_owner_of_contact_tells_the_contacts_owner_in_the_admin_ui(
    database: Database, settings: Settings, team: dict[str, int]
):
    outgoing = record(database, settings, payload(database))
    (row,) = notifications(database)
    assert outgoing.emails == []
    assert (row.user_id, row.channel, row.status, row.read_at) == (
        team["hanako"],
        "in_app",
        "sent",
        None,
    )
    assert row.body.startswith("山田 様がセミナーに申し込みました\n")
    assert "Contact: 山田 太郎 <taro.yamada@example.jp>" in row.body
    assert f"{settings.public_url}/admin/contacts/{row.contact_id}" in row.body
    assert row.subject == "山田 太郎: 山田 様がセミナーに申し込みました"


def test_a_role_tells_every_active_user_with_it_once(
    database: Database, settings: Settings, team: dict[str, int]
):
    data = payload(database, to={"role": "sales"})
    record(database, settings, data)
    record(database, settings, data)  # a redelivered outbox row
    rows = notifications(database)
    assert sorted(r.user_id for r in rows) == sorted([team["hanako"], team["jiro"]])


def test_a_user_is_named_by_email(database: Database, settings: Settings, team: dict[str, int]):
    record(database, settings, payload(database, to={"user": "Kana.Takahashi@example.jp"}))
    assert [r.user_id for r in notifications(database)] == [team["kana"]]


def test_nobody_to_tell_is_kept_as_a_failed_notification(
    database: Database, settings: Settings, team: dict[str, int]
):
    record(database, settings, payload(database, to={"user": "ichiro.suzuki@example.jp"}))
    (row,) = notifications(database)
    assert (row.status, row.user_id) == ("failed", None)
    assert row.error == "no active user for user: ichiro.suzuki@example.jp"


def test_email_goes_through_the_smtp_server_once(
    database: Database,
    tmp_path: Path,
    migrated_url: str,
    mailbox: CaptureServer,
    team: dict[str, int],
):
    settings = make_settings(tmp_path, migrated_url, smtp_url=f"smtp://127.0.0.1:{mailbox.port}")
    data = payload(database, channel="email")
    outgoing = record(database, settings, data)
    failed = service.send(database, outgoing, settings=settings, clock=lambda: NOW)
    again = record(database, settings, data)

    assert failed == 0
    assert again.emails == []  # sent already: a redelivery sends nothing
    (row,) = notifications(database)
    assert (row.status, row.sent_at, row.recipient) == ("sent", NOW, "hanako.yamada@example.jp")
    (captured,) = list_captured(mailbox.var_dir)
    assert captured.envelope_to == ["hanako.yamada@example.jp"]
    assert captured.subject == "山田 太郎: 山田 様がセミナーに申し込みました"
    message = read_captured(mailbox.var_dir, captured.id)
    assert f"https://nurture.example.jp/admin/contacts/{row.contact_id}" in (message.text or "")


def test_an_unreachable_smtp_server_leaves_the_email_failed_for_a_retry(
    database: Database, tmp_path: Path, migrated_url: str, team: dict[str, int]
):
    settings = make_settings(tmp_path, migrated_url, smtp_url="smtp://127.0.0.1:9")
    data = payload(database, channel="email")
    outgoing = record(database, settings, data)
    assert service.send(database, outgoing, settings=settings, clock=lambda: NOW) == 1
    (row,) = notifications(database)
    assert row.status == "failed"
    assert row.error
    assert record(database, settings, data).emails == [row.id]  # the retry sends it again


def test_slack_posts_once_through_a_signed_webhook(
    database: Database,
    tmp_path: Path,
    migrated_url: str,
    receiver: Receiver,
    team: dict[str, int],
):
    settings = make_settings(
        tmp_path,
        migrated_url,
        webhook_allow_private=True,
        slack_webhook_url=f"{receiver.url}/services/T000/B000",
    )
    data = payload(database, channel="slack", to={"role": "sales"})
    outgoing = record(database, settings, data)
    service.send(database, outgoing, settings=settings, clock=lambda: NOW)
    service.send(database, record(database, settings, data), settings=settings, clock=lambda: NOW)

    (request,) = receiver.requests
    text = json.loads(request.body)["text"]
    assert "山田 太郎" in text
    assert "hanako.yamada@example.jp, jiro.sato@example.jp" in text
    (row,) = notifications(database)
    assert (row.channel, row.recipient, row.status) == ("slack", "slack", "sent")
    with database.sessions() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.kind, delivery.webhook_id) == ("notify", f"ntf_{row.id}")
    assert request.headers["webhook-id"] == f"ntf_{row.id}"


def test_slack_without_a_url_is_a_failed_notification(
    database: Database, settings: Settings, team: dict[str, int]
):
    record(database, settings, payload(database, channel="slack"))
    (row,) = notifications(database)
    assert (row.status, row.error) == ("failed", "NURTURE_SLACK_WEBHOOK_URL is not set")


def test_the_inbox_lists_a_users_notifications_and_marks_them_read(
    database: Database, settings: Settings, team: dict[str, int]
):
    record(database, settings, payload(database, to={"role": "sales"}))
    with database.unit_of_work() as session:
        page, _ = service.list_for_user(session, team["jiro"], limit=10)
        read = service.mark_read(session, page[0].id, user_id=team["jiro"], now=NOW)
        unread, _ = service.list_for_user(session, team["jiro"], limit=10, unread=True)
    assert len(page) == 1
    assert read.read_at == NOW
    assert unread == []
