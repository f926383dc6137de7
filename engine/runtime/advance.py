"""Step enrollments: claim → load → plan → apply effects → persist, in one transaction per batch.

The claim is the batch's first statement, an UPDATE of the rows: on PostgreSQL it locks
them, on SQLite it takes the database's write lock. A second worker handed the same ids
waits, then finds them no longer due and does nothing, which is what makes a redelivered
message harmless. The caller commits, then dispatches the returned outbox ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.errors import NurtureError
from engine.journey import EnrollmentState, EventRecord, plan
from engine.journey.send_rules import RecentSend, apply_send_rules
from engine.runtime.effects import Effects
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.views import (
    load_email_activity,
    load_recent_sends,
    load_views,
    with_emails,
)
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
) -> AdvanceResult:
    """Advance the due (or, with ``event``, the listening) enrollments among ``enrollment_ids``.

    Without an event only enrollments whose ``wake_at`` has come are stepped; with one,
    every live enrollment is offered the event (a ``wait_for``, ``exit_when`` or goal may
    be waiting on it). ``recheck`` plans every live one now: its contact changed, so an
    ``exit_when`` or goal may hold (a wait not yet over stays as it is). An enrollment
    whose step fails unexpectedly is retried later.
    """
    result = AdvanceResult()
    ids = sorted(set(enrollment_ids))
    if not ids:
        return result
    table = table_of(Enrollment)
    claimed = session.scalars(
        update(table)
        .where(table.c.id.in_(ids), table.c.status != "exited")
        .values(updated_at=now)
        .returning(table.c.id)
    ).all()
    rows = session.scalars(select(Enrollment).where(Enrollment.id.in_(claimed))).all()
    due = [
        r
        for r in rows
        if recheck or event is not None or (r.wake_at is not None and r.wake_at <= now)
    ]
    result.not_due = len(rows) - len(due)
    views = load_views(session, {r.contact_id for r in due}, now=now)
    emails = load_email_activity(session, [r.id for r in due])
    recent = load_recent_sends(session, {r.contact_id for r in due}, now=now)
    effects = Effects(session, now, message_domain)
    for row in due:
        try:
            compiled = journeys.get(session, row.journey_id, row.version)
            state = EnrollmentState.from_json(row.state)
            view = with_emails(views[row.contact_id], emails.get(row.id, ()))
            decided = plan(compiled, state, view, now, event=event)
            decided, vetoed = apply_send_rules(
                decided, view, recent[row.contact_id], row.journey_id
            )
        except (NurtureError, ValueError, KeyError) as error:
            log.exception("enrollment %s failed at step %s: %s", row.id, row.step, error)
            row.wake_at = now + RETRY_AFTER
            result.failed += 1
            continue
        effects.visited(row.id, dict(state.attempts), dict(decided.state.attempts))
        recent[row.contact_id].extend(
            RecentSend(now, row.journey_id, send.topic)
            for send in decided.sends
            if send.idempotency_key not in vetoed
        )
        effects.record(row, view, decided.actions, row.journey_id, vetoed)
        new = decided.state
        row.state = new.to_json()
        row.step = new.step
        row.status = new.status
        row.steps_taken = new.steps_taken
        row.wake_at = decided.wake_at
        row.waiting_on = decided.waiting_on.to_json() if decided.waiting_on else None
        row.lease_owner = None
        row.lease_until = None
        if decided.exited:
            row.exited_at = now
            row.exit_reason = new.exit_reason
            result.exited += 1
        result.stepped += 1
    session.flush()
    result.outbox = effects.flush()
    return result
