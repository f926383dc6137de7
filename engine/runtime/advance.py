"""Step enrollments: claim → load → plan → apply effects → persist, in one transaction per batch.

The claim is the batch's first statement: on PostgreSQL a ``SELECT … FOR UPDATE`` locks
the rows, on SQLite an UPDATE takes the database's write lock. A second worker handed the
same ids waits, then finds them no longer due and does nothing, which is what makes a
redelivered message harmless. The new states are written in one statement at the end. The
caller commits, then dispatches the returned outbox ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.errors import NurtureError
from engine.journey import ContactView, EnrollmentState, EventRecord, Plan, plan
from engine.journey.needs import EVERYTHING, NOTHING, ViewNeeds
from engine.journey.send_rules import RecentSend, apply_send_rules
from engine.runtime.effects import Effects
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.views import (
    load_email_activity,
    load_recent_sends,
    load_views,
    with_emails,
)
from engine.store.bulk import among, update_by_id
from engine.store.models import Enrollment
from engine.store.models.base import table_of

log = logging.getLogger(__name__)

#: How long an enrollment whose step failed unexpectedly waits before it is tried again.
RETRY_AFTER = timedelta(minutes=5)


@dataclass(slots=True)
class AdvanceResult:
    """What one batch did; ``outbox`` holds the ids to dispatch once committed."""

    stepped: int = 0
    exited: int = 0
    not_due: int = 0
    failed: int = 0
    outbox: list[int] = field(default_factory=list)


def advance(
    session: Session,
    enrollment_ids: Iterable[int],
    *,
    now: datetime,
    journeys: CompiledJourneys,
    message_domain: str,
    event: EventRecord | None = None,
    recheck: bool = False,
    views: Mapping[int, ContactView] | None = None,
) -> AdvanceResult:
    """Advance the due (or, with ``event``, the listening) enrollments among ``enrollment_ids``.

    Without an event only enrollments whose ``wake_at`` has come are stepped; with one,
    every live enrollment is offered the event (a ``wait_for``, ``exit_when`` or goal may
    be waiting on it). ``recheck`` plans every live one now: its contact changed, so an
    ``exit_when`` or goal may hold (a wait not yet over stays as it is). An enrollment
    whose step fails unexpectedly is retried later. ``views`` are contacts the caller loaded
    in this transaction and has not changed since (the event router's), not loaded again.
    """
    result = AdvanceResult()
    ids = sorted(set(enrollment_ids))
    if not ids:
        return result
    rows = _claim(session, ids, now=now)
    due = [
        r
        for r in rows
        if recheck or event is not None or (r.wake_at is not None and r.wake_at <= now)
    ]
    result.not_due = len(rows) - len(due)
    given = views or {}
    contacts = {r.contact_id for r in due}
    needs = _batch_needs(session, journeys, due)
    views = {c: given[c] for c in contacts if c in given}
    views |= load_views(session, contacts - views.keys(), now=now, needs=needs)
    emails = load_email_activity(session, [r.id for r in due]) if needs.emails else {}
    effects = Effects(session, now, message_domain)
    moved: list[dict[str, Any]] = []
    retried: list[dict[str, Any]] = []
    planned: list[tuple[Claimed, EnrollmentState, ContactView, Plan]] = []
    for row in due:
        try:
            compiled = journeys.get(session, row.journey_id, row.version)
            state = EnrollmentState.from_json(row.state)
            view = with_emails(views[row.contact_id], emails.get(row.id, ()))
            planned.append(
                (row, state, view, plan(compiled, state, view, now, event=event, trace=False))
            )
        except (NurtureError, ValueError, KeyError) as error:
            log.exception("enrollment %s failed at step %s: %s", row.id, row.step, error)
            retried.append({"id": row.id, "wake_at": now + RETRY_AFTER})
            result.failed += 1
    # Frequency caps count recent sends: loaded only for the contacts these plans mail.
    recent = load_recent_sends(
        session, {row.contact_id for row, _, _, decided in planned if decided.sends}, now=now
    )
    for row, state, view, decided in planned:
        if decided.sends:
            decided, vetoed = apply_send_rules(
                decided, view, recent[row.contact_id], row.journey_id
            )
            recent[row.contact_id].extend(
                RecentSend(now, row.journey_id, send.topic)
                for send in decided.sends
                if send.idempotency_key not in vetoed
            )
        else:
            vetoed = {}
        effects.visited(row.id, dict(state.attempts), dict(decided.state.attempts))
        effects.record(row, view, decided.actions, row.journey_id, vetoed)
        new = decided.state
        document = new.to_json()
        held = row.wake_at is None or row.wake_at > now  # offered an event or re-checked
        if held and document == row.state and decided.wake_at == row.wake_at:
            result.stepped += 1
            continue  # nothing moved: no new row version
        moved.append(
            {
                "id": row.id,
                "state": document,
                "step": new.step,
                "status": new.status,
                "steps_taken": new.steps_taken,
                "wake_at": decided.wake_at,
                "waiting_on": decided.waiting_on.to_json() if decided.waiting_on else None,
                "exited_at": now if decided.exited else None,
                "exit_reason": new.exit_reason if decided.exited else None,
            }
        )
        result.exited += decided.exited
        result.stepped += 1
    _store(session, moved, retried, now=now)
    result.outbox = effects.flush()
    return result


def _batch_needs(session: Session, journeys: CompiledJourneys, due: list[Claimed]) -> ViewNeeds:
    """What planning this batch reads of its contacts: the union over its journey versions."""
    needs = NOTHING
    for journey_id, version in {(r.journey_id, r.version) for r in due}:
        try:
            needs |= journeys.get(session, journey_id, version).needs
        except NurtureError:
            return EVERYTHING  # the row fails when planned; load as if it would not
    return needs


class Claimed(NamedTuple):
    """A claimed enrollment, as the planner needs it (a tuple: a batch makes one per row)."""

    id: int
    contact_id: int
    journey_id: str
    version: int
    step: str
    wake_at: datetime | None
    state: dict[str, Any]


def _claim(session: Session, ids: list[int], *, now: datetime) -> list[Claimed]:
    """Lock the live enrollments among ``ids`` for this transaction and read them.

    PostgreSQL locks the rows with ``SELECT … FOR UPDATE`` (in id order, so two workers
    never wait on each other in a circle); SQLite has no row locks, and an UPDATE takes
    its database-wide write lock instead.
    """
    table = table_of(Enrollment)
    columns = (
        table.c.id,
        table.c.contact_id,
        table.c.journey_id,
        table.c.version,
        table.c.step,
        table.c.wake_at,
        table.c.state,
    )
    live = (among(session, table.c.id, ids), table.c.status != "exited")
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(
            select(*columns).where(*live).order_by(table.c.id).with_for_update()
        )
    else:
        found = session.execute(
            update(table).where(*live).values(updated_at=now).returning(*columns)
        )
    return list(map(Claimed._make, found))


def _store(
    session: Session, moved: list[dict[str, Any]], retried: list[dict[str, Any]], *, now: datetime
) -> None:
    """Write every stepped enrollment's new state in one statement, and the retries in another."""
    table = table_of(Enrollment)
    update_by_id(
        session,
        table,
        moved,
        {
            "state": "jsonb",
            "step": "text",
            "status": "text",
            "steps_taken": "int",
            "wake_at": "timestamptz",
            "waiting_on": "jsonb",
            "exited_at": "timestamptz",
            "exit_reason": "text",
        },
        constants={"lease_owner": None, "lease_until": None, "updated_at": now},
    )
    update_by_id(session, table, retried, {"wake_at": "timestamptz"})
