"""Keep ``segment_memberships`` current, in SQL, and announce every entry and exit as an event.

Two statements per segment do the work for a whole batch of contacts: an ``INSERT … SELECT``
of matching contacts not yet members, and a ``DELETE`` of members that no longer match, both
``RETURNING`` the contacts they changed. The database decides races: a contact two workers
re-check at once enters (or leaves) once, so its ``segment.entered`` event is stored once.
Those events are routed like any other, which is how segment triggers enroll contacts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, insert, literal, not_, or_, select, update
from sqlalchemy.orm import Session

from engine.contacts.service import dialect_insert
from engine.journey.conditions import Condition
from engine.journey.triggers import SEGMENT_ENTERED, SEGMENT_EXITED
from engine.runtime import outbox
from engine.runtime.topics import ROUTE_EVENTS
from engine.segments.definitions import CONDITIONS
from engine.segments.sql import condition_sql
from engine.store.db import Database
from engine.store.models import Contact, Event, Segment, SegmentMembership
from engine.store.models.base import table_of

#: Event names for membership changes; a segment trigger listens to them.
ENTERED, EXITED = SEGMENT_ENTERED, SEGMENT_EXITED
#: Contacts per unit of work in a full reconcile.
RECONCILE_BATCH = 10_000
#: How often every segment is re-evaluated over all contacts, for conditions that change
#: with time alone ("an event within 30 days") and for changes no event announced.
RECONCILE_EVERY = timedelta(minutes=15)


@dataclass(slots=True)
class MembershipChanges:
    """Contacts that entered and left each segment, and the events stored for them."""

    entered: dict[str, list[int]] = field(default_factory=dict)
    exited: dict[str, list[int]] = field(default_factory=dict)
    event_ids: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many memberships changed."""
        return sum(map(len, self.entered.values())) + sum(map(len, self.exited.values()))


def refresh_contacts(
    session: Session, contact_ids: Collection[int], *, now: datetime
) -> MembershipChanges:
    """Re-check these contacts against every segment (after their data or events changed)."""
    ids = sorted(set(contact_ids))
    if not ids:
        return MembershipChanges()
    return _refresh(session, CONDITIONS.all(session), Contact.id.in_(ids), now=now)


def refresh_range(
    session: Session,
    segments: Mapping[str, Condition],
    *,
    after: int,
    upto: int,
    now: datetime,
) -> MembershipChanges:
    """Re-check the contacts with ``after < id <= upto`` against ``segments``."""
    return _refresh(session, segments, and_(Contact.id > after, Contact.id <= upto), now=now)


def _refresh(
    session: Session,
    segments: Mapping[str, Condition],
    scope: ColumnElement[bool],
    *,
    now: datetime,
) -> MembershipChanges:
    changes = MembershipChanges()
    if not segments:
        return changes
    dialect = session.get_bind().dialect.name
    member = table_of(SegmentMembership)
    for segment_id, condition in sorted(segments.items()):
        matches = condition_sql(condition, now=now, dialect=dialect)
        already = exists().where(
            member.c.segment_id == segment_id, member.c.contact_id == Contact.id
        )
        candidates = select(literal(segment_id), Contact.id, literal(now, member.c.entered_at.type))
        stmt = (
            dialect_insert(session, SegmentMembership)
            .from_select(
                ["segment_id", "contact_id", "entered_at"],
                candidates.where(scope, matches, not_(already)),
            )
            .on_conflict_do_nothing()
            .returning(member.c.contact_id)
        )
        entered = sorted(session.scalars(stmt))
        leaving = select(Contact.id).where(scope, not_(matches))
        exited = sorted(
            session.scalars(
                member.delete()
                .where(member.c.segment_id == segment_id, member.c.contact_id.in_(leaving))
                .returning(member.c.contact_id)
            )
        )
        if entered:
            changes.entered[segment_id] = entered
        if exited:
            changes.exited[segment_id] = exited
    changes.event_ids = _announce(session, changes, now=now)
    return changes


def _announce(session: Session, changes: MembershipChanges, *, now: datetime) -> list[int]:
    """Store one event per change and route them once the transaction commits."""
    rows = [
        {
            "contact_id": contact_id,
            "type": name,
            "properties": {"segment": segment_id},
            "occurred_at": now,
            "received_at": now,
            "source": "segment",
        }
        for name, by_segment in ((ENTERED, changes.entered), (EXITED, changes.exited))
        for segment_id, contact_ids in by_segment.items()
        for contact_id in contact_ids
    ]
    if not rows:
        return []
    stmt = insert(table_of(Event)).returning(Event.id, sort_by_parameter_order=True)
    event_ids = list(session.scalars(stmt, rows))
    outbox.enqueue(session, ROUTE_EVENTS, {"event_ids": event_ids}, now=now)
    return event_ids


def due_for_reconcile(session: Session, *, now: datetime) -> list[str]:
    """Segments never reconciled, changed since, or last reconciled ``RECONCILE_EVERY`` ago."""
    return list(
        session.scalars(
            select(Segment.id)
            .where(
                or_(
                    Segment.reconciled_at.is_(None),
                    Segment.reconciled_at <= now - RECONCILE_EVERY,
                )
            )
            .order_by(Segment.id)
        )
    )


def reconcile(
    database: Database,
    *,
    now: datetime,
    segment_ids: Collection[str] | None = None,
    batch: int = RECONCILE_BATCH,
) -> int:
    """Re-evaluate segments over every contact, a committed id range at a time.

    Returns how many memberships changed. A crash loses only the batch in flight; the
    segments stay due (``reconciled_at`` is set at the end) and the next run starts over,
    which finds nothing left to change in the batches already done.
    """
    with database.unit_of_work() as session:
        wanted = segment_ids if segment_ids is not None else due_for_reconcile(session, now=now)
        segments = {k: v for k, v in CONDITIONS.all(session).items() if k in set(wanted)}
        highest = session.scalar(select(func.max(Contact.id))) or 0
    if not segments:
        return 0
    changed, after = 0, 0
    while after < highest:
        upto = after + batch
        with database.unit_of_work() as session:
            changed += refresh_range(session, segments, after=after, upto=upto, now=now).count
        after = upto
    with database.unit_of_work() as session:
        session.execute(update(Segment).where(Segment.id.in_(segments)).values(reconciled_at=now))
    return changed
