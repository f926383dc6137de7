"""Route stored events: enroll contacts whose journeys they trigger, wake enrollments they concern.

Enrollment is idempotent: an event enrolls a contact in a journey at most once (a unique
entry event per journey), and at most one enrollment per journey, contact and key is live
(a partial unique index), so a redelivered or concurrent routing of the same events does
nothing twice. The caller advances what this returns, in the same transaction or after.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from engine.contacts.service import dialect_insert
from engine.journey import ContactView, EnrollmentState, EventRecord
from engine.journey.entry import PriorEnrollment
from engine.journey.triggers import SEGMENT_ENTERED, SEGMENT_EXITED
from engine.runtime.journeys import CompiledJourneys, Published
from engine.runtime.views import load_views
from engine.segments.membership import refresh_contacts
from engine.store.bulk import among
from engine.store.models import Enrollment, Event, Journey
from engine.store.models.base import table_of

#: Events that record a membership change rather than cause one.
MEMBERSHIP_EVENTS = frozenset({SEGMENT_ENTERED, SEGMENT_EXITED})


@dataclass(slots=True)
class Routed:
    """New enrollments (due at once) and, per event, the live enrollments to offer it to."""

    enrolled: list[int] = field(default_factory=list)
    #: The views entry was decided on; stepping the new enrollments at once reuses them.
    views: dict[int, ContactView] = field(default_factory=dict)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    woken: list[tuple[EventRecord, list[int]]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Head:
    """A stored event without its properties: enough to decide whether anything needs them."""

    id: int
    contact_id: int
    name: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class _Stored:
    id: int
    contact_id: int
    record: EventRecord


def route_events(
    session: Session, event_ids: Iterable[int], *, now: datetime, journeys: CompiledJourneys
) -> Routed:
    """Enroll and wake for the given events, oldest first.

    The contacts' segment memberships are re-checked first, so ``{segment: …}`` conditions
    see the events; the membership events this stores are routed in their own turn (and,
    changing nothing themselves, re-check nothing). Properties are read only for the events
    a journey may enter on or a live enrollment listens to: most opens, clicks and page
    views concern none, and reading their documents was most of routing's cost.
    """
    routed = Routed()
    heads = _load_heads(session, event_ids)
    if not heads:
        return routed
    changed = {e.contact_id for e in heads if e.name not in MEMBERSHIP_EVENTS}
    refresh_contacts(session, changed, now=now)
    active = active_versions(session, journeys)
    woken = [(head, ids) for head, ids in _live_listeners(session, heads, journeys) if ids]
    entering = [
        (head, journey_id)
        for head in heads
        for journey_id, published in active.items()
        if head.name in published.entry.events
    ]
    # An event erased with its contact since the heads were read is left out.
    events = _with_properties(session, [h for h, _ in entering] + [h for h, _ in woken])
    candidates = [(events[h.id], journey_id) for h, journey_id in entering if h.id in events]
    if candidates:
        rows = _decide(
            session, candidates, active, now=now, refused=routed.refused, views=routed.views
        )
        routed.enrolled = insert_enrollments(session, rows, active, now=now)
    routed.woken = [(events[h.id].record, ids) for h, ids in woken if h.id in events]
    return routed


def _load_heads(session: Session, event_ids: Iterable[int]) -> list[_Head]:
    ids = sorted(set(event_ids))
    if not ids:
        return []
    table = table_of(Event)
    found = session.execute(
        select(table.c.id, table.c.contact_id, table.c.type, table.c.occurred_at)
        .where(among(session, table.c.id, ids), table.c.contact_id.is_not(None))
        .order_by(table.c.occurred_at, table.c.id)
    )
    return [_Head(*row) for row in found]


def _with_properties(session: Session, heads: list[_Head]) -> dict[int, _Stored]:
    """The given events whole, by id: each head with its properties."""
    by_id = {head.id: head for head in heads}
    if not by_id:
        return {}
    table = table_of(Event)
    found = session.execute(
        select(table.c.id, table.c.properties).where(among(session, table.c.id, sorted(by_id)))
    )
    events = {}
    for event_id, properties in found:
        head = by_id[event_id]
        record = EventRecord(head.name, head.occurred_at, properties)
        events[event_id] = _Stored(event_id, head.contact_id, record)
    return events


def active_versions(session: Session, journeys: CompiledJourneys) -> dict[str, Published]:
    """Every active journey's running version, compiled."""
    rows = session.execute(
        select(Journey.id, Journey.active_version).where(
            Journey.status == "active", Journey.active_version.is_not(None)
        )
    )
    return {
        journey_id: journeys.published(session, journey_id, version)
        for journey_id, version in rows
        if version is not None
    }


def _decide(
    session: Session,
    candidates: list[tuple[_Stored, str]],
    active: dict[str, Published],
    *,
    now: datetime,
    refused: list[tuple[str, int, str]],
    views: dict[int, ContactView],
) -> list[dict[str, Any]]:
    contact_ids = {event.contact_id for event, _ in candidates}
    views.update(load_views(session, contact_ids, now=now))
    prior = load_prior(session, {j for _, j in candidates}, contact_ids)
    rows = []
    for event, journey_id in candidates:
        published = active[journey_id]
        history = prior[(journey_id, event.contact_id)]
        decision = published.entry.on_event(views[event.contact_id], event.record, history, now)
        if decision is None:
            continue
        if not decision.enter:
            refused.append((journey_id, event.contact_id, decision.reason))
            continue
        history.append(PriorEnrollment(decision.key, now, None))  # later events see it
        rows.append(
            enrollment_row(
                published,
                event.contact_id,
                key=decision.key,
                entry=decision.entry,
                now=now,
                entry_event_id=event.id,
            )
        )
    return rows


def load_prior(
    session: Session, journey_ids: Iterable[str], contact_ids: Iterable[int]
) -> dict[tuple[str, int], list[PriorEnrollment]]:
    """Every enrollment of these contacts in these journeys, for the entry rules."""
    prior: dict[tuple[str, int], list[PriorEnrollment]] = defaultdict(list)
    for journey_id, contact_id, key, entered_at, exited_at in session.execute(
        select(
            Enrollment.journey_id,
            Enrollment.contact_id,
            Enrollment.key,
            Enrollment.entered_at,
            Enrollment.exited_at,
        ).where(
            Enrollment.contact_id.in_(set(contact_ids)),
            Enrollment.journey_id.in_(set(journey_ids)),
        )
    ):
        prior[(journey_id, contact_id)].append(PriorEnrollment(key, entered_at, exited_at))
    return prior


def enrollment_row(
    published: Published,
    contact_id: int,
    *,
    key: str,
    entry: Mapping[str, Any],
    now: datetime,
    entry_event_id: int | None = None,
) -> dict[str, Any]:
    """A new enrollment at the journey's start, due at once."""
    spec = published.compiled.spec
    return {
        "journey_id": spec.id,
        "version": spec.version,
        "contact_id": contact_id,
        "key": key,
        "entry_event_id": entry_event_id,
        "status": "active",
        "step": spec.start,
        "wake_at": now,
        "entry": dict(entry),
        "state": {},
        "steps_taken": 0,
        "entered_at": now,
        "updated_at": now,
    }


def insert_enrollments(
    session: Session,
    rows: list[dict[str, Any]],
    published: Mapping[str, Published],
    *,
    now: datetime,
) -> list[int]:
    """Insert enrollments (skipping any the constraints refuse) and write their start state."""
    if not rows:
        return []
    stmt = (
        dialect_insert(session, Enrollment)
        .on_conflict_do_nothing()
        .returning(Enrollment.id, Enrollment.journey_id, Enrollment.contact_id, Enrollment.entry)
    )
    states = []
    for enrollment_id, journey_id, contact_id, entry in session.execute(stmt, rows):
        spec = published[journey_id].compiled.spec
        state = EnrollmentState.enter(
            spec,
            enrollment_id=str(enrollment_id),
            contact_id=str(contact_id),
            entered_at=now,
            entry=entry,
        )
        states.append({"eid": enrollment_id, "state": state.to_json()})
    if states:
        table = table_of(Enrollment)
        session.execute(
            update(table).where(table.c.id == bindparam("eid")).values(state=bindparam("state")),
            states,
        )
    return [s["eid"] for s in states]


def _live_listeners(
    session: Session, events: list[_Head], journeys: CompiledJourneys
) -> list[tuple[_Head, list[int]]]:
    """Per event, the contact's live enrollments whose version or wait looks at its name."""
    live: dict[int, list[tuple[int, frozenset[str], str | None]]] = defaultdict(list)
    for enrollment_id, contact_id, journey_id, version, waiting_on in session.execute(
        select(
            Enrollment.id,
            Enrollment.contact_id,
            Enrollment.journey_id,
            Enrollment.version,
            Enrollment.waiting_on,
        ).where(
            Enrollment.contact_id.in_({e.contact_id for e in events}),
            Enrollment.status != "exited",
            Enrollment.journey_id.in_(select(Journey.id).where(Journey.status == "active")),
        )
    ):
        wakes_on = journeys.published(session, journey_id, version).wakes_on
        awaited = (waiting_on or {}).get("event")
        live[contact_id].append((enrollment_id, wakes_on, awaited))
    return [
        (
            event,
            [
                enrollment_id
                for enrollment_id, wakes_on, awaited in live[event.contact_id]
                if event.name == awaited or event.name in wakes_on
            ],
        )
        for event in events
    ]


def live_enrollments(session: Session, contact_ids: Iterable[int]) -> list[int]:
    """The live enrollments of these contacts in active journeys (paused ones are held)."""
    ids = sorted(set(contact_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(Enrollment.id).where(
                Enrollment.contact_id.in_(ids),
                Enrollment.status != "exited",
                Enrollment.journey_id.in_(select(Journey.id).where(Journey.status == "active")),
            )
        )
    )
