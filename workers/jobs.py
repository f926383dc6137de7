"""The scheduler's standard sweeps; later features add theirs here, one line each."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from engine.clock import utcnow
from engine.operations import heartbeat as heartbeats
from engine.runtime.sweep import claim_due, release
from engine.runtime.timed_triggers import run_timed_triggers
from engine.segments.membership import reconcile
from workers import actors, delivery
from workers.relay import relay
from workers.runtime import Runtime
from workers.scheduler import JobRegistry

log = logging.getLogger(__name__)

#: How often due timers and the outbox are swept; an event wakes its listeners at once anyway.
SWEEP_INTERVAL = timedelta(seconds=1)
#: How often date and schedule triggers look for moments that came due.
TRIGGER_INTERVAL = timedelta(seconds=30)
#: How often segments due for a full re-evaluation are looked for.
RECONCILE_INTERVAL = timedelta(minutes=1)
#: Batches per sweep, so one sweep of a huge backlog cannot run past the next.
SWEEP_BATCHES = 20


def standard_jobs(runtime: Runtime) -> JobRegistry:
    """Return the registry of every sweep, bound to this process's runtime."""
    registry = JobRegistry()
    registry.every("heartbeats.probe", heartbeats.BEAT_INTERVAL, send_probe)
    registry.every("heartbeats.prune", heartbeats.PRUNE_AFTER / 6, lambda: prune(runtime))
    registry.every("runtime.sweep", SWEEP_INTERVAL, lambda: sweep(runtime))
    registry.every("runtime.relay", SWEEP_INTERVAL, lambda: relay(runtime))
    registry.every("webhooks.retry", delivery.RETRY_INTERVAL, lambda: delivery.retry_due(runtime))
    registry.every("runtime.triggers", TRIGGER_INTERVAL, lambda: timed_triggers(runtime))
    registry.every("segments.reconcile", RECONCILE_INTERVAL, lambda: reconcile_segments(runtime))
    return registry


def sweep(runtime: Runtime, *, batch: int = 500, message_size: int = 100) -> int:
    """Dispatch every due enrollment, in leased batches, as messages of ``message_size`` ids."""
    total = 0
    started = time.perf_counter()
    for _ in range(SWEEP_BATCHES):
        with runtime.database.unit_of_work() as session:
            ids = claim_due(session, now=runtime.clock(), limit=batch, owner=runtime.process.id)
        sent = 0
        try:
            for start in range(0, len(ids), message_size):
                actors.advance_enrollments.send(ids[start : start + message_size])
                sent = start + message_size
        except Exception:
            # The broker is down: give the rest back, so the first sweep after it returns
            # sends them rather than the one after their lease.
            with runtime.database.unit_of_work() as session:
                release(session, ids[sent:], owner=runtime.process.id)
            raise
        total += len(ids)
        if len(ids) < batch:
            break
    if total:
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info("sweep dispatched", extra={"enrollments": total, "duration_ms": elapsed_ms})
    return total


def send_probe() -> None:
    """Send a probe through the broker; the worker that takes it notes it on its heartbeat."""
    actors.probe.send(utcnow().isoformat())


def prune(runtime: Runtime) -> None:
    """Delete heartbeats of processes not seen for an hour."""
    with runtime.database.unit_of_work() as session:
        removed = heartbeats.prune(session, now=utcnow())
    if removed:
        log.info("pruned %d stale process heartbeats", removed)


def timed_triggers(runtime: Runtime) -> int:
    """Enroll the contacts whose date or schedule trigger fired since the last look."""
    result = run_timed_triggers(runtime.database, now=runtime.clock(), journeys=runtime.journeys)
    if result.enrolled or result.refused:
        log.info(
            "timed triggers enrolled",
            extra={"enrolled": result.enrolled, "refused": dict(result.refused)},
        )
    return result.enrolled


def reconcile_segments(runtime: Runtime) -> int:
    """Re-evaluate the segments that are new, changed, or due, over every contact."""
    changed = reconcile(runtime.database, now=runtime.clock())
    if changed:
        log.info("segments reconciled", extra={"memberships_changed": changed})
    return changed
