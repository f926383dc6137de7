"""Event ingestion as set work: a batch costs a handful of statements, not one per event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, text, update
from sqlalchemy.orm import Session

from engine.contacts.service import dialect_insert
from engine.errors import FieldProblem, InvalidInput, TooLarge
from engine.events.schemas import MAX_BATCH, EventIn, IngestResult
from engine.runtime import outbox
from engine.runtime.topics import ROUTE_EVENTS
from engine.store.bulk import insert_new_rows
from engine.store.models import Contact, Event
from engine.store.models.base import table_of

#: Clock skew we tolerate in a sender's occurred_at before calling it a mistake.
MAX_FUTURE = timedelta(hours=24)


def check_batch_size(count: int) -> None:
    """Raise TooLarge when a batch is over the documented limit."""
    if count > MAX_BATCH:
        raise TooLarge(
            f"a batch holds at most {MAX_BATCH:,} events; this one has {count:,}",
            problems=[FieldProblem("body", f"split into batches of at most {MAX_BATCH:,}")],
        )


def ingest_events(
    session: Session, events: Sequence[EventIn], *, now: datetime, source: str = "api"
) -> IngestResult:
    """Store events (creating unknown contacts), skipping any whose idempotency key is known.

    Raises TooLarge over ``MAX_BATCH`` and InvalidInput for times too far in the future.
    """
    check_batch_size(len(events))
    future = [
        FieldProblem(f"[{i}].occurred_at", "is more than 24 hours in the future")
        for i, e in enumerate(events)
        if e.occurred_at and e.occurred_at - now > MAX_FUTURE
    ]
    if future:
        raise InvalidInput("events from the future", problems=future)
    contact_ids, created = _ensure_contacts(session, {e.email for e in events}, now=now)
    # First occurrence of a key in the batch wins, like a re-post would.
    seen_keys: set[str] = set()
    rows: list[dict[str, Any]] = []
    positions: list[int] = []
    for position, e in enumerate(events):
        if e.idempotency_key is not None:
            if e.idempotency_key in seen_keys:
                continue
            seen_keys.add(e.idempotency_key)
        positions.append(position)
        rows.append(
            {
                "contact_id": contact_ids[e.email],
                "type": e.type,
                "properties": e.properties,
                "occurred_at": e.occurred_at or now,
                "received_at": now,
                "source": source,
                "idempotency_key": e.idempotency_key,
            }
        )
    event_ids: list[int | None] = [None] * len(events)
    for position, event_id in zip(positions, _insert_events(session, rows), strict=True):
        event_ids[position] = event_id
    if rows:
        _touch_last_seen(session, rows)
    stored = [i for i in event_ids if i is not None]
    if stored:  # journeys react to them once this transaction commits
        outbox.enqueue(session, ROUTE_EVENTS, {"event_ids": stored}, now=now)
    accepted = sum(1 for i in event_ids if i is not None)
    return IngestResult(
        accepted=accepted,
        duplicates=len(events) - accepted,
        contacts_created=created,
        event_ids=event_ids,
    )


def store_events(
    session: Session, rows: list[dict[str, Any]], *, now: datetime, route: Sequence[int] = ()
) -> int:
    """Store event rows already shaped for the table (tracking's own events); return how many.

    Rows keep their ``idempotency_key``, so a hit stored twice lands once. The new events
    of known contacts, and the already stored events in ``route`` (history that has just
    become a contact's), are routed to journeys once the transaction commits.
    """
    ids = _insert_events(session, rows)
    known = [i for i, row in zip(ids, rows, strict=True) if i is not None and row["contact_id"]]
    with_contacts = [r for r, i in zip(rows, ids, strict=True) if i is not None and r["contact_id"]]
    if with_contacts:
        _touch_last_seen(session, with_contacts)
    routed = sorted({*known, *route})
    if routed:
        outbox.enqueue(session, ROUTE_EVENTS, {"event_ids": routed}, now=now)
    return sum(1 for i in ids if i is not None)


#: The columns of an event, for the bulk insert.
EVENT_KINDS = {
    "id": "bigint",
    "contact_id": "bigint",
    "anonymous_id": "text",
    "type": "text",
    "properties": "jsonb",
    "occurred_at": "timestamptz",
    "received_at": "timestamptz",
    "source": "text",
    "idempotency_key": "text",
}


def _insert_events(session: Session, rows: list[dict[str, Any]]) -> list[int | None]:
    """Insert rows, skipping known idempotency keys; return each row's new id or None."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _insert_events_postgresql(session, rows)
    ids: list[int | None] = [None] * len(rows)
    keyed = [i for i, r in enumerate(rows) if r["idempotency_key"]]
    keyless = [i for i, r in enumerate(rows) if not r["idempotency_key"]]
    if keyed:
        stmt = (
            dialect_insert(session, Event)
            .on_conflict_do_nothing(index_elements=[Event.idempotency_key])
            .returning(Event.id, Event.idempotency_key)
        )
        new = {key: event_id for event_id, key in session.execute(stmt, [rows[i] for i in keyed])}
        for i in keyed:
            ids[i] = new.get(rows[i]["idempotency_key"])
    if keyless:
        stmt = insert(table_of(Event)).returning(Event.id, sort_by_parameter_order=True)
        for i, event_id in zip(
            keyless, session.scalars(stmt, [rows[i] for i in keyless]), strict=True
        ):
            ids[i] = event_id
    return ids


def _insert_events_postgresql(session: Session, rows: list[dict[str, Any]]) -> list[int | None]:
    """Take ids from the sequence up front, then insert the batch in one statement.

    The rows travel as one JSON document (``engine.store.bulk``): one statement to plan,
    where an executemany is one per row. The ids that come back are the rows that landed;
    the others had an idempotency key already stored.
    """
    ids = session.scalars(
        text("SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, :n)"),
        {"n": len(rows)},
    ).all()
    for row, event_id in zip(rows, ids, strict=True):
        row["id"] = event_id
        row.setdefault("anonymous_id", None)
    landed = insert_new_rows(
        session, table_of(Event), rows, EVENT_KINDS, key="idempotency_key", returning="id"
    )
    return [r["id"] if r["id"] in landed else None for r in rows]


def _ensure_contacts(
    session: Session, emails: set[str], *, now: datetime
) -> tuple[dict[str, int], int]:
    """Return ids for every email, creating bare contacts for the unknown ones.

    Most events are about known contacts, so look them up first and insert only the rest;
    a concurrent insert of the same address is absorbed by ON CONFLICT and found after.
    """
    ids = _contact_ids(session, emails)
    missing = emails - ids.keys()
    if not missing:
        return ids, 0
    stmt = (
        dialect_insert(session, Contact)
        .on_conflict_do_nothing(index_elements=[Contact.email])
        .returning(Contact.id, Contact.email)
    )
    rows = [
        {
            "email": e,
            "attributes": {},
            "lifecycle_stage": "subscriber",
            "score": 0,
            "created_at": now,
            "updated_at": now,
        }
        for e in sorted(missing)
    ]
    created = {email: contact_id for contact_id, email in session.execute(stmt, rows)}
    ids.update(created)
    ids.update(_contact_ids(session, missing - created.keys()))
    unknown = emails - ids.keys()
    if unknown:  # erased between the insert and the select, by a concurrent request
        raise InvalidInput(
            "contacts vanished during ingestion; retry the batch",
            problems=[FieldProblem("email", e) for e in sorted(unknown)],
        )
    return ids, len(created)


def _contact_ids(session: Session, emails: set[str]) -> dict[str, int]:
    if not emails:
        return {}
    found = session.execute(select(Contact.email, Contact.id).where(Contact.email.in_(emails)))
    return {email: contact_id for email, contact_id in found}


def _touch_last_seen(session: Session, rows: list[dict[str, Any]]) -> None:
    """Move each contact's ``last_seen_at`` forward to its newest event in the batch."""
    newest: dict[int, datetime] = {}
    for row in rows:
        seen = newest.get(row["contact_id"])
        if seen is None or row["occurred_at"] > seen:
            newest[row["contact_id"]] = row["occurred_at"]
    table = table_of(Contact)
    moved = bindparam("seen_at", type_=table.c.last_seen_at.type)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("contact_id"))
        .where(or_(table.c.last_seen_at.is_(None), table.c.last_seen_at < moved))
        .values(last_seen_at=moved),
        [{"contact_id": c, "seen_at": t} for c, t in newest.items()],
    )
