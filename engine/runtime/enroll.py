"""Enroll contacts by hand or in bulk: the same entry rules as triggers, stepped by the sweep.

New enrollments are inserted due at once; the scheduler's sweep hands them to workers in
batches, so enrolling a hundred thousand contacts is a few inserts, not one long transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, NotFound
from engine.journey.conditions import Condition
from engine.journey.entry import PriorEnrollment
from engine.runtime.journeys import CompiledJourneys, Published
from engine.runtime.routing import enrollment_row, insert_enrollments, load_prior
from engine.runtime.views import load_views
from engine.segments.sql import condition_sql
from engine.store.db import Database
from engine.store.models import Contact, Journey

#: Contacts decided per batch in bulk enrollment.
BATCH = 1_000


@dataclass(slots=True)
class EnrollResult:
    """How many were enrolled, and how many refused by which rule (``audience``, ``reentry`` …)."""

    enrolled: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def add(self, other: EnrollResult) -> None:
        """Fold another batch's result into this one."""
        self.enrolled += other.enrolled
        self.refused.update(other.refused)


def active_version(session: Session, journeys: CompiledJourneys, journey_id: str) -> Published:
    """The journey's active version; NotFound or Conflict (not active) otherwise."""
    row = session.execute(
        select(Journey.status, Journey.active_version).where(Journey.id == journey_id)
    ).one_or_none()
    if row is None or row.active_version is None:
        raise NotFound(f"no deployed journey {journey_id!r}")
    if row.status != "active":
        raise Conflict(f"journey {journey_id} is {row.status}; resume it before enrolling")
    return journeys.published(session, journey_id, row.active_version)


def enroll_contacts(
    session: Session,
    journey_id: str,
    contact_ids: Iterable[int],
    *,
    now: datetime,
    journeys: CompiledJourneys,
    entry: Mapping[str, Any] | None = None,
) -> EnrollResult:
    """Enroll these contacts if the journey's audience and entry rules admit them."""
    published = active_version(session, journeys, journey_id)
    data = dict(entry or {"name": "manual"})
    return admit_and_insert(
        session, published, [(c, "", data) for c in sorted(set(contact_ids))], now=now
    )


def admit_and_insert(
    session: Session,
    published: Published,
    candidates: Sequence[tuple[int, str, Mapping[str, Any]]],
    *,
    now: datetime,
) -> EnrollResult:
    """Enroll each ``(contact id, key, entry)`` the audience and entry rules admit.

    Every trigger that selects contacts in bulk (manual, date, schedule) comes through here,
    so they all refuse for the same reasons the event router does.
    """
    journey_id = published.compiled.spec.id
    ids = [contact_id for contact_id, _, _ in candidates]
    views = load_views(session, ids, now=now)
    prior = load_prior(session, [journey_id], ids)
    result = EnrollResult()
    rows = []
    for contact_id, key, data in candidates:
        history = prior[(journey_id, contact_id)]
        decision = published.entry.admit(views[contact_id], history, key=key, entry=data, now=now)
        if not decision.enter:
            result.refused[decision.code] += 1
            continue
        history.append(PriorEnrollment(key, now, None))
        rows.append(enrollment_row(published, contact_id, key=key, entry=data, now=now))
    inserted = insert_enrollments(session, rows, {journey_id: published}, now=now)
    result.enrolled = len(inserted)
    if len(inserted) < len(rows):  # a concurrent enrollment won the race for some
        result.refused["already_enrolled"] += len(rows) - len(inserted)
    return result


def next_matching(
    session: Session, condition: Condition, *, now: datetime, after: int = 0, batch: int = BATCH
) -> list[int]:
    """The next ``batch`` ids (above ``after``) of contacts matching ``condition``, in SQL."""
    clause = condition_sql(condition, now=now, dialect=session.get_bind().dialect.name)
    query = select(Contact.id).where(clause, Contact.id > after).order_by(Contact.id).limit(batch)
    return list(session.scalars(query))


def enroll_matching(
    database: Database,
    journey_id: str,
    condition: Condition,
    *,
    now: datetime,
    journeys: CompiledJourneys,
    progress: Callable[[int], object] | None = None,
) -> EnrollResult:
    """Enroll every contact matching ``condition``, a committed batch at a time.

    A crash keeps the batches done; running it again enrolls only those still admitted.
    """
    total = EnrollResult()

    def enroll(session: Session, ids: list[int]) -> None:
        total.add(enroll_contacts(session, journey_id, ids, now=now, journeys=journeys))

    in_matching_batches(database, condition, enroll, now=now, progress=progress)
    return total


def in_matching_batches(
    database: Database,
    condition: Condition,
    act: Callable[[Session, list[int]], object],
    *,
    now: datetime,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Call ``act`` on each batch of ids of contacts matching ``condition``, each batch in its
    own committed unit of work (so a crash keeps what was done); return how many matched."""
    matched = after = 0
    while True:
        with database.unit_of_work() as session:
            ids = next_matching(session, condition, now=now, after=after)
            if not ids:
                return matched
            act(session, ids)
        matched += len(ids)
        after = ids[-1]
        if progress is not None:
            progress(len(ids))


def contact_ids_by_email(session: Session, emails: Iterable[str]) -> tuple[list[int], list[str]]:
    """Ids of the contacts with these (normalised) emails, and the emails no contact has."""
    wanted = set(emails)
    rows = session.execute(select(Contact.email, Contact.id).where(Contact.email.in_(wanted)))
    found = {email: contact_id for email, contact_id in rows}
    return sorted(found.values()), sorted(wanted - found.keys())


def emails_by_contact_id(session: Session, contact_ids: Iterable[int]) -> dict[int, str]:
    """The emails of these contacts, by id."""
    wanted = sorted(set(contact_ids))
    if not wanted:
        return {}
    rows = session.execute(select(Contact.id, Contact.email).where(Contact.id.in_(wanted)))
    return {contact_id: email for contact_id, email in rows}
