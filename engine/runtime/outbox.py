"""The outbox: work to hand to the broker, written in the transaction that made it necessary.

The database, not the broker, knows what is done. The relay leases pending rows and sends
them; the consumer marks its row done in the transaction that does the work. A row whose
message was lost (a worker killed while holding it, a broker restarted) is sent again when
its lease runs out, the lease doubling each time. Consumers are idempotent, so a row sent
twice does its work once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from engine.store.models import OutboxMessage
from engine.store.models.base import table_of

#: How long a sent row waits for its consumer before it is sent again (doubling each time).
RELAY_LEASE = timedelta(seconds=30)
#: The longest wait between two sends of the same row.
MAX_RELAY_LEASE = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Pending:
    """One row to send; ``attempts`` counts the sends before this one."""

    id: int
    topic: str
    payload: dict[str, Any]
    attempts: int = 0


def enqueue(session: Session, topic: str, payload: dict[str, Any], *, now: datetime) -> int:
    """Add a row; it is dispatched once the caller's transaction commits."""
    row = {
        "topic": topic,
        "payload": payload,
        "created_at": now,
        "available_at": now,
        "attempts": 0,
    }
    stmt = insert(table_of(OutboxMessage)).returning(OutboxMessage.id)
    return int(session.scalars(stmt, [row]).one())


def claim(
    session: Session,
    *,
    now: datetime,
    topics: Collection[str],
    limit: int = 500,
    ids: Collection[int] | None = None,
) -> list[Pending]:
    """Lease up to ``limit`` rows of ``topics`` not done (or just ``ids``), oldest first."""
    table = table_of(OutboxMessage)
    query = (
        select(table.c.id, table.c.topic, table.c.payload, table.c.attempts)
        .where(
            table.c.done_at.is_(None),
            table.c.available_at <= now,
            table.c.topic.in_(topics),
        )
        .order_by(table.c.id)
        .limit(limit)
    )
    if ids is not None:
        query = query.where(table.c.id.in_(ids))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    pending = [Pending(i, t, p, a) for i, t, p, a in session.execute(query)]
    if pending:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(available_at=bindparam("until"), attempts=table.c.attempts + 1),
            [{"row_id": p.id, "until": now + lease_after(p.attempts)} for p in pending],
        )
    return pending


def lease_after(attempts: int) -> timedelta:
    """How long a row sent ``attempts`` times before waits for its consumer this time."""
    lease: timedelta = RELAY_LEASE * (2 ** min(attempts, 10))
    return min(lease, MAX_RELAY_LEASE)


def mark_done(session: Session, row_id: int | Collection[int] | None, *, now: datetime) -> None:
    """Record, in the consumer's transaction, that the row's (or rows') work is done.

    A message may carry several rows' work: the relay merges rows of one topic.
    """
    if row_id is None:
        return
    ids = [row_id] if isinstance(row_id, int) else list(row_id)
    if ids:
        table = table_of(OutboxMessage)
        session.execute(update(table).where(table.c.id.in_(ids)).values(done_at=now))


def release(session: Session, row_ids: Collection[int], *, now: datetime) -> None:
    """Hand back rows claimed but not sent (the broker refused them): due again at ``now``,
    their send not counted, so the first relay round after the broker returns sends them."""
    if row_ids:
        table = table_of(OutboxMessage)
        session.execute(
            update(table)
            .where(table.c.id.in_(row_ids), table.c.done_at.is_(None))
            .values(available_at=now, attempts=table.c.attempts - 1)
        )
