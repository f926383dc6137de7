"""One-click unsubscribe over real HTTP: a GET asks, a POST withdraws consent; bad links 404."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from engine.contacts.schemas import ConsentIn
from engine.contacts.service import ContactRow, record_consent, upsert_contacts
from engine.email.unsubscribe import sign_token
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import ConsentRecord, Message, OutboxMessage, Subscription, Suppression

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
YAMADA = ContactRow(
    email="taro.yamada@example.jp", first_name="太郎", last_name="山田", locale="ja"
)
SMITH = ContactRow(
    email="oliver.smith@example.com", first_name="Oliver", last_name="Smith", locale="en-GB"
)


def mailed(database: Database, contact: ContactRow, *, topic: str | None) -> str:
    """A contact subscribed to two topics, and a message sent to them; returns its uid."""
    uid = secrets.token_urlsafe(16)
    with database.unit_of_work() as session:
        contact_id = upsert_contacts(session, [contact], now=NOW, reason="test").ids[contact.email]
        record_consent(
            session,
            [
                (
                    contact_id,
                    ConsentIn(topic=t, granted=True, source="signup form", occurred_at=NOW),
                )
                for t in ("seminar_followup", "newsletter")
            ],
            now=NOW,
        )
        session.add(
            Message(
                uid=uid,
                message_id=f"<{uid}@mail.example.jp>",
                idempotency_key=f"test:{uid}",
                contact_id=contact_id,
                to_address=contact.email,
                template="seminar-thanks-ja",
                topic=topic,
                status="sent",
                attempts=1,
                queued_at=NOW,
                sent_at=NOW,
            )
        )
        session.execute(delete(OutboxMessage))  # only what unsubscribing adds
    return uid


def subscriptions(database: Database) -> dict[str, bool]:
    with database.sessions() as session:
        return dict(session.execute(select(Subscription.topic, Subscription.subscribed)).all())


def count(database: Database, model) -> int:
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_get_shows_a_confirmation_and_unsubscribes_nobody(
    client: TestClient, database: Database, settings: Settings
) -> None:
    token = sign_token(mailed(database, YAMADA, topic="seminar_followup"), settings.signing_keys())

    response = client.get(f"/u/{token}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert '<html lang="ja">' in response.text
    assert "「seminar_followup」のメール配信を停止します" in response.text
    assert f'<form method="post" action="/u/{token}">' in response.text
    assert 'name="List-Unsubscribe" value="One-Click"' in response.text
    assert "配信を停止する" in response.text
    assert subscriptions(database) == {"seminar_followup": True, "newsletter": True}
    assert count(database, Suppression) == 0
    assert count(database, ConsentRecord) == 2  # only the two grants


def test_a_one_click_post_withdraws_the_topic_at_once(
    client: TestClient, database: Database, settings: Settings
) -> None:
    uid = mailed(database, YAMADA, topic="seminar_followup")
    token = sign_token(uid, settings.signing_keys())

    response = client.post(
        f"/u/{token}",
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert "「seminar_followup」のメール配信を停止しました。" in response.text
    assert subscriptions(database) == {"seminar_followup": False, "newsletter": True}
    with database.sessions() as session:
        withdrawal = session.scalars(
            select(ConsentRecord).where(ConsentRecord.granted.is_(False))
        ).one()
        assert (withdrawal.topic, withdrawal.source) == ("seminar_followup", "list-unsubscribe")
        assert "RFC 8058" in (withdrawal.text or "")
        suppression = session.scalars(select(Suppression)).one()
        assert (suppression.email, suppression.scope, suppression.reason) == (
            YAMADA.email,
            "seminar_followup",
            "unsubscribe",
        )
        changed = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "contacts.changed")
        ).all()
        assert len(changed) == 1 and len(changed[0]["contact_ids"]) == 1

    again = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})

    assert again.status_code == 200
    assert "すでに停止されています" in again.text
    assert count(database, Suppression) == 1
    assert count(database, ConsentRecord) == 3
    assert "すでに停止されています" in client.get(f"/u/{token}").text


def test_a_message_without_topic_unsubscribes_all_mail(
    client: TestClient, database: Database, settings: Settings
) -> None:
    token = sign_token(mailed(database, SMITH, topic=None), settings.signing_keys())

    page = client.get(f"/u/{token}")
    assert '<html lang="en">' in page.text and "Stop all emails to this address?" in page.text

    response = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})

    assert "You are unsubscribed. We will not email this address again." in response.text
    assert subscriptions(database) == {"seminar_followup": False, "newsletter": False}
    with database.sessions() as session:
        assert session.execute(select(Suppression.scope, Suppression.reason)).all() == [
            ("*", "unsubscribe")
        ]


def test_a_tampered_or_unknown_token_gets_a_404_page(
    client: TestClient, database: Database, settings: Settings
) -> None:
    uid = mailed(database, YAMADA, topic="seminar_followup")
    token = sign_token(uid, settings.signing_keys())
    other_key = [b"another-installation-key-" + b"y" * 40]
    forged = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature altered
        sign_token(secrets.token_urlsafe(16), settings.signing_keys()),  # no such message
        sign_token(uid, other_key),  # signed by someone else
        uid,  # no signature at all
        "not-a-token",
    ]
    for bad in forged:
        for method in (client.get, client.post):
            response = method(f"/u/{bad}")
            assert response.status_code == 404, (bad, method)
            assert "この配信停止リンクは無効です" in response.text
            assert "This unsubscribe link is not valid" in response.text
    assert subscriptions(database) == {"seminar_followup": True, "newsletter": True}
    assert count(database, Suppression) == 0


def test_a_rotated_key_still_honours_old_links(database: Database, settings: Settings) -> None:
    from admin.app import create_app

    uid = mailed(database, YAMADA, topic="seminar_followup")
    old_token = sign_token(uid, settings.signing_keys())
    new_key = "rotated-" + "z" * 40
    rotated = settings.model_copy(
        update={
            "secret_key": settings.secret_key.__class__(
                f"{new_key},{settings.secret_key.get_secret_value()}"
            )
        }
    )
    with TestClient(create_app(rotated, database)) as client:
        assert client.post(f"/u/{old_token}").status_code == 200
    assert subscriptions(database)["seminar_followup"] is False
