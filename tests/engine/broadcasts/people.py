"""A small audience for broadcast tests: tagged, consenting contacts with Japanese names."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select

from engine.broadcasts.service import create_broadcast
from engine.broadcasts.spec import parse_broadcast
from engine.broadcasts.walk import SEND_BROADCAST_EMAIL
from engine.contacts.schemas import ConsentIn
from engine.contacts.service import ContactRow, record_consent, upsert_contacts
from engine.store.db import Database
from engine.store.models import ContactTag, Message, OutboxMessage

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
TOPIC = "seminar_followup"
DOMAIN = "mail.nurture.example.jp"


def add_people(
    database: Database, count: int, *, tag: str = "vip", topic_granted: bool = True
) -> list[int]:
    """``count`` contacts tagged ``tag``, consenting to the topic unless told otherwise."""
    rows = [
        ContactRow(email=f"kokyaku{i:04d}@example.jp", first_name="花子", last_name=f"佐藤{i}")
        for i in range(count)
    ]
    return _add(database, rows, tag=tag, topic_granted=topic_granted)


def add_person(
    database: Database, email: str, *, tag: str | None = "vip", granted: bool = True
) -> int:
    """One contact, tagged and consenting as told."""
    return _add(
        database, [ContactRow(email=email, last_name="山田")], tag=tag, topic_granted=granted
    )[0]


def _add(
    database: Database, rows: list[ContactRow], *, tag: str | None, topic_granted: bool
) -> list[int]:
    with database.unit_of_work() as session:
        found = upsert_contacts(session, rows, now=NOW, reason="test").ids
        ids = [found[r.email] for r in rows]
        record_consent(
            session,
            [
                (i, ConsentIn(topic=TOPIC, granted=topic_granted, source="test", occurred_at=NOW))
                for i in ids
            ],
            now=NOW,
        )
        if tag is not None:
            session.execute(
                insert(ContactTag), [{"contact_id": i, "tag": tag, "added_at": NOW} for i in ids]
            )
    return ids


def create(database: Database, yaml: str) -> str:
    """Store a broadcast from its YAML text; return its id."""
    spec, problems = parse_broadcast(yaml, "test.yaml")
    assert spec is not None, [p.format() for p in problems]
    with database.unit_of_work() as session:
        return create_broadcast(session, spec, source=yaml, now=NOW).id


def messages(database: Database, broadcast_id: str) -> list[Message]:
    """The broadcast's messages, by contact."""
    with database.sessions() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.broadcast_id == broadcast_id)
                .order_by(Message.contact_id)
            )
        )


def queued_ids(database: Database) -> list[int]:
    """Every message id handed to the outbox, in the order queued (with repeats, if any)."""
    with database.sessions() as session:
        payloads = session.scalars(
            select(OutboxMessage.payload)
            .where(OutboxMessage.topic == SEND_BROADCAST_EMAIL)
            .order_by(OutboxMessage.id)
        )
        return [i for p in payloads for i in p["message_ids"]]


PLAIN = f"""\
id: autumn_news
name: 秋のお知らせ
template: seminar-thanks-ja
subject: "{{{{ contact.last_name }}}} 様、秋の新機能のお知らせ"
topic: {TOPIC}
audience: {{tag: vip}}
"""

AB = f"""\
id: autumn_ab
name: 秋のお知らせ（件名テスト）
template: seminar-thanks-ja
topic: {TOPIC}
audience: {{tag: vip}}
ab:
  variants:
    - {{name: A, subject: 秋の新機能のお知らせ}}
    - {{name: B, subject: 【限定】秋の新機能を先行公開}}
  sample: 20%
  metric: opens
  window: 4h
"""
