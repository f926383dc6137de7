"""Walk a broadcast's audience in keyset batches, each committed with its checkpoint.

A batch selects the next contacts after ``cursor`` (id order), inserts their messages in
one statement, queues them for the email pipeline through the outbox and moves the cursor,
all in one transaction: a crash loses the whole batch or none of it, so a restart neither
skips nor repeats anyone. The idempotency key ``broadcast:ID:CONTACT`` makes a second
walker's insert of the same contact a no-op.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from engine.broadcasts.ab import BUCKET_MULTIPLIER, BUCKETS, variant_for
from engine.broadcasts.spec import ABTest
from engine.store.bulk import insert_new_rows
from engine.store.models import (
    Broadcast,
    Contact,
    ContactList,
    ContactTag,
    ListMember,
    Message,
    OutboxMessage,
    SegmentMembership,
    Subscription,
)
from engine.store.models.base import table_of

#: Outbox topic of a batch of broadcast messages: ``{"message_ids": [...]}``.
SEND_BROADCAST_EMAIL = "email.send_batch"
#: Contacts per walk batch (one transaction each).
WALK_BATCH = 1000
#: A batch looks at up to this many times its size of contacts, in id order, for members.
WINDOW = 10
#: Messages per outbox row, so one ``email.send`` call sends a few dozen over one connection.
SEND_CHUNK = 50

_MESSAGE_KINDS = {
    "uid": "text",
    "message_id": "text",
    "idempotency_key": "text",
    "contact_id": "bigint",
    "to_address": "text",
    "broadcast_id": "text",
    "template": "text",
    "variant": "text",
    "topic": "text",
    "subject": "text",
    "status": "text",
    "attempts": "int",
    "queued_at": "timestamptz",
}


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch did: contacts walked past (0: the phase had none left) and messages
    queued (fewer than the members found if some existed)."""

    contacts: int
    queued: int
    phase_done: bool


def idempotency_key(broadcast_id: str, contact_id: int) -> str:
    """The key that makes a contact's message of a broadcast unique."""
    return f"broadcast:{broadcast_id}:{contact_id}"


def bucket_sql() -> ColumnElement[int]:
    """The contact's A/B bucket in SQL, equal to :func:`engine.broadcasts.ab.bucket_of`."""
    return (Contact.id * BUCKET_MULTIPLIER) % BUCKETS


def audience(broadcast: Broadcast) -> Select[int, str, int]:
    """Contacts who may receive it: in its segment, tag or list, with an address, subscribed to its topic.

    Suppressions are left to the send, which checks them at the last moment and records
    the message ``suppressed``.
    """
    subscribed = exists().where(
        Subscription.contact_id == Contact.id,
        Subscription.topic == broadcast.topic,
        Subscription.subscribed.is_(True),
    )
    if broadcast.segment is not None:
        member = exists().where(
            SegmentMembership.segment_id == broadcast.segment,
            SegmentMembership.contact_id == Contact.id,
        )
    elif broadcast.tag is not None:
        member = exists().where(
            ContactTag.contact_id == Contact.id, ContactTag.tag == broadcast.tag
        )
    else:
        member = exists().where(
            ListMember.contact_id == Contact.id,
            ListMember.list_id == ContactList.id,
            ContactList.key == broadcast.list_key,
        )
    return select(Contact.id, Contact.email, bucket_sql()).where(
        Contact.email.is_not(None), subscribed, member
    )


def walk_batch(
    session: Session,
    broadcast_id: str,
    *,
    now: datetime,
    message_domain: str,
    batch: int = WALK_BATCH,
) -> BatchResult:
    """Queue the next batch of a sending broadcast's current phase; never commits.

    When a phase has nobody left, the broadcast moves on: the A/B sample waits for its
    window (``decide_at``), and the last phase marks the broadcast ``sent``.
    """
    broadcast = _locked(session, broadcast_id)
    if broadcast is None or broadcast.status != "sending" or broadcast.phase == "waiting":
        return BatchResult(0, 0, phase_done=False)
    test = ABTest.model_validate(broadcast.ab) if broadcast.ab else None
    # The next window of contacts by id, whoever they are: the audience test then looks up
    # each one by key, so a batch costs the same at the start of a million contacts as at
    # the end, whatever plan the database would pick for the whole audience.
    window = (
        select(Contact.id)
        .where(Contact.id > broadcast.cursor)
        .order_by(Contact.id)
        .limit(batch * WINDOW)
        .subquery()
    )
    query = audience(broadcast).where(Contact.id.in_(select(window.c.id)))
    if test is not None and broadcast.phase == "sample":
        query = query.where(bucket_sql() < test.sample)
    elif test is not None:
        query = query.where(bucket_sql() >= test.sample)
    rows = [
        (int(i), str(e), int(b))
        for i, e, b in session.execute(query.order_by(Contact.id).limit(batch))
    ]
    if len(rows) == batch:
        walked_to, walked = rows[-1][0], batch
    else:  # the window holds fewer members than a batch: it is walked to its end
        end, walked = session.execute(select(func.max(window.c.id), func.count())).one()
        if end is None:  # no contact left after the cursor
            _end_phase(broadcast, test, now=now)
            return BatchResult(0, 0, phase_done=True)
        walked_to = int(end)
    if not rows:
        broadcast.cursor = walked_to
        broadcast.updated_at = now
        return BatchResult(walked, 0, phase_done=False)
    names = [v.name for v in test.variants] if test else []
    messages = [
        _message(
            broadcast,
            test,
            contact_id,
            email,
            _variant(broadcast, names, bucket),
            now,
            message_domain,
        )
        for contact_id, email, bucket in rows
    ]
    ids = sorted(
        insert_new_rows(
            session,
            table_of(Message),
            messages,
            _MESSAGE_KINDS,
            key="idempotency_key",
            returning="id",
        )
    )
    _queue(session, ids, now=now)
    broadcast.cursor = walked_to
    broadcast.updated_at = now
    return BatchResult(walked, len(ids), phase_done=False)


def _locked(session: Session, broadcast_id: str) -> Broadcast | None:
    """The broadcast row, locked on PostgreSQL so two walkers take turns."""
    query = select(Broadcast).where(Broadcast.id == broadcast_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def _variant(broadcast: Broadcast, names: Sequence[str], bucket: int) -> str | None:
    if not names:
        return None
    if broadcast.phase == "sample":
        return variant_for(bucket, names)
    return broadcast.winner


def _message(
    broadcast: Broadcast,
    test: ABTest | None,
    contact_id: int,
    email: str,
    variant: str | None,
    now: datetime,
    message_domain: str,
) -> dict[str, Any]:
    chosen = next((v for v in test.variants if v.name == variant), None) if test else None
    uid = secrets.token_urlsafe(16)
    return {
        "uid": uid,
        "message_id": f"<{uid}@{message_domain}>",
        "idempotency_key": idempotency_key(broadcast.id, contact_id),
        "contact_id": contact_id,
        "to_address": email,
        "broadcast_id": broadcast.id,
        "template": (chosen.template if chosen else None) or broadcast.template,
        "variant": variant,
        "topic": broadcast.topic,
        "subject": (chosen.subject if chosen else None) or broadcast.subject,
        "status": "queued",
        "attempts": 0,
        "queued_at": now,
    }


def _queue(session: Session, message_ids: list[int], *, now: datetime) -> None:
    """One outbox row per chunk of messages; the relay hands each to ``email.send``."""
    rows = [
        {
            "topic": SEND_BROADCAST_EMAIL,
            "payload": {"message_ids": message_ids[start : start + SEND_CHUNK]},
            "created_at": now,
            "available_at": now,
            "attempts": 0,
        }
        for start in range(0, len(message_ids), SEND_CHUNK)
    ]
    if rows:
        session.execute(insert(table_of(OutboxMessage)), rows)


def _end_phase(broadcast: Broadcast, test: ABTest | None, *, now: datetime) -> None:
    broadcast.updated_at = now
    if test is not None and broadcast.phase == "sample":
        broadcast.phase = "waiting"
        broadcast.decide_at = now + test.window
        return
    broadcast.status = "sent"
    broadcast.phase = None
    broadcast.sent_at = now


def start_due(session: Session, *, now: datetime) -> list[str]:
    """Move scheduled broadcasts whose ``send_at`` came to ``sending``; return their ids.

    Scheduling already set the first phase (``sample`` or ``all``) and a zero cursor.
    """
    table = table_of(Broadcast)
    due = or_(table.c.send_at.is_(None), table.c.send_at <= now)
    return list(
        session.scalars(
            update(table)
            .where(table.c.status == "scheduled", due)
            .values(status="sending", updated_at=now)
            .returning(table.c.id)
        )
    )


FINAL_STATUSES = ("sent", "bounced", "failed", "suppressed", "skipped")


def finish_sent(session: Session, *, now: datetime) -> list[str]:
    """Mark ``finished`` the sent broadcasts whose every message reached a final state."""
    table = table_of(Broadcast)
    waiting = exists().where(
        Message.broadcast_id == table.c.id, Message.status.not_in(FINAL_STATUSES)
    )
    return list(
        session.scalars(
            update(table)
            .where(table.c.status == "sent", ~waiting)
            .values(status="finished", finished_at=now, updated_at=now)
            .returning(table.c.id)
        )
    )


def due_decisions(session: Session, *, now: datetime) -> list[str]:
    """A/B broadcasts whose sample window is over."""
    return list(
        session.scalars(
            select(Broadcast.id).where(
                Broadcast.status == "sending",
                Broadcast.phase == "waiting",
                Broadcast.decide_at <= now,
            )
        )
    )


def sending(session: Session) -> list[str]:
    """Broadcasts with a phase to walk."""
    return list(
        session.scalars(
            select(Broadcast.id)
            .where(Broadcast.status == "sending", Broadcast.phase != "waiting")
            .order_by(Broadcast.id)
        )
    )
