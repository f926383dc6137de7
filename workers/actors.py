"""Every dramatiq actor; each one calls an engine service in one unit of work and nothing else."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from engine.clock import utcnow
from engine.operations import heartbeat as heartbeats
from engine.runtime import outbox
from engine.runtime.advance import advance
from engine.runtime.service import process_contact_changes, process_events
from workers.broker import actor
from workers.runtime import current

log = logging.getLogger(__name__)
#: Queue of operational messages (probes); workers consume it with every other queue.
OPERATIONS_QUEUE = "operations"
#: Queue of journey work: routing events and stepping enrollments.
JOURNEYS_QUEUE = "journeys"


@actor(queue_name=OPERATIONS_QUEUE, actor_name="heartbeats.probe", max_age=60_000, max_retries=0)
def probe(sent_at: str) -> None:
    """Record on this worker's heartbeat that it took a probe off the broker (and how late).

    A probe older than a minute is dropped: the next one says more.
    """
    runtime = current()
    with runtime.database.unit_of_work() as session:
        heartbeats.record_probe(
            session, runtime.process, sent_at=datetime.fromisoformat(sent_at), now=utcnow()
        )


@actor(queue_name=JOURNEYS_QUEUE, actor_name="runtime.route_events", max_retries=20)
def route_events(event_ids: list[int], outbox_id: int | list[int] | None = None) -> None:
    """Enroll the contacts these events trigger, step them, and wake enrollments listening.

    ``outbox_id`` is the row (or, when the relay merged rows, the rows) this message carries.
    """
    runtime = current()
    now = runtime.clock()
    started = time.perf_counter()
    with runtime.database.unit_of_work() as session:
        routed = process_events(
            session,
            event_ids,
            now=now,
            journeys=runtime.journeys,
            message_domain=runtime.message_domain,
        )
        outbox.mark_done(session, outbox_id, now=now)
    log.info(
        "events routed",
        extra={
            "events": len(event_ids),
            "enrolled": len(routed.enrolled),
            "woken": routed.woken,
            "outbox_id": outbox_id,
            "duration_ms": _ms_since(started),
        },
    )


@actor(queue_name=JOURNEYS_QUEUE, actor_name="runtime.advance", max_retries=20)
def advance_enrollments(enrollment_ids: list[int]) -> None:
    """Step the due enrollments among these (a redelivered message finds them not due)."""
    runtime = current()
    started = time.perf_counter()
    with runtime.database.unit_of_work() as session:
        result = advance(
            session,
            enrollment_ids,
            now=runtime.clock(),
            journeys=runtime.journeys,
            message_domain=runtime.message_domain,
        )
    log.info(
        "batch advanced",
        extra={
            "enrollments": len(enrollment_ids),
            "stepped": result.stepped,
            "exited": result.exited,
            "not_due": result.not_due,
            "failed": result.failed,
            "duration_ms": _ms_since(started),
        },
    )


@actor(queue_name=JOURNEYS_QUEUE, actor_name="runtime.contacts_changed", max_retries=20)
def contacts_changed(contact_ids: list[int], outbox_id: int | list[int] | None = None) -> None:
    """Let the live enrollments of changed contacts re-check exit_when and goals."""
    runtime = current()
    now = runtime.clock()
    with runtime.database.unit_of_work() as session:
        process_contact_changes(
            session,
            contact_ids,
            now=now,
            journeys=runtime.journeys,
            message_domain=runtime.message_domain,
        )
        outbox.mark_done(session, outbox_id, now=now)


def _ms_since(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()``), for log lines."""
    return round((time.perf_counter() - started) * 1000, 1)
