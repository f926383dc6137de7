"""Find enrollments whose timer is due, and lease them so each is dispatched once.

The lease doubles as the reaper: a dispatched enrollment whose worker died keeps its
due ``wake_at``, and once the lease runs out the next sweep dispatches it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine.store.bulk import among
from engine.store.models import Enrollment, Journey
from engine.store.models.base import table_of

#: How long a dispatched enrollment is left to its worker before it is dispatched again.
DISPATCH_LEASE = timedelta(seconds=60)


def claim_due(
    session: Session, *, now: datetime, limit: int, owner: str, lease: timedelta = DISPATCH_LEASE
) -> list[int]:
    """Lease up to ``limit`` due enrollments, earliest first, and return their ids.

    The query walks the due index (``wake_at, id``) and stops after ``limit`` rows. Paused
    journeys, which hold their contacts where they are, are read first and excluded by id:
    joined in as a subquery they hid the index order from PostgreSQL's planner, which then
    sorted every due row for each batch, so a burst of a million due enrollments took a
    full scan per 500 claimed.
    """
    table = table_of(Enrollment)
    held = list(session.scalars(select(Journey.id).where(Journey.status != "active")))
    query = (
        select(table.c.id)
        .where(
            table.c.status != "exited",
            table.c.wake_at <= now,
            or_(table.c.lease_until.is_(None), table.c.lease_until < now),
            *([table.c.journey_id.not_in(held)] if held else []),
        )
        .order_by(table.c.wake_at, table.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if ids:
        session.execute(
            update(table)
            .where(among(session, table.c.id, ids))
            .values(lease_owner=owner, lease_until=now + lease)
        )
    return ids


def release(session: Session, enrollment_ids: list[int], *, owner: str) -> None:
    """Drop ``owner``'s lease on enrollments it could not dispatch, so the next sweep may."""
    if enrollment_ids:
        table = table_of(Enrollment)
        session.execute(
            update(table)
            .where(among(session, table.c.id, enrollment_ids), table.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
