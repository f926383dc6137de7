"""The outbox: work to hand to the broker, written in the transaction that made it necessary.

A relay claims pending rows (leasing them, so two relays never send the same row at once),
sends them, and marks them dispatched. A crash between sending and marking sends a row again,
which every consumer tolerates: dispatch is at least once, effects are exactly once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from engine.store.models import OutboxMessage
from engine.store.models.base import table_of

#: How long a claimed row stays invisible to other relays before it may be sent again.
RELAY_LEASE = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Pending:
    """One row to dispatch."""

    id: int
    topic: str
    payload: dict[str, Any]


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
    """Lease up to ``limit`` undispatched rows of ``topics`` (or just ``ids``), oldest first."""
    table = table_of(OutboxMessage)
    query = (
        select(table.c.id, table.c.topic, table.c.payload)
        .where(
            table.c.dispatched_at.is_(None),
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
    pending = [Pending(i, t, p) for i, t, p in session.execute(query)]
    if pending:
        session.execute(
            update(table)
            .where(table.c.id.in_([p.id for p in pending]))
            .values(available_at=now + RELAY_LEASE, attempts=table.c.attempts + 1)
        )
    return pending


def mark_dispatched(session: Session, ids: Collection[int], *, now: datetime) -> None:
    """Record that the broker accepted these rows."""
    if ids:
        table = table_of(OutboxMessage)
        session.execute(update(table).where(table.c.id.in_(ids)).values(dispatched_at=now))
