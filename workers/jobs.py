"""The scheduler's standard sweeps; later features add theirs here, one line each."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from engine.analytics.rfm import refresh_rfm_if_due
from engine.broadcasts.service import advance as advance_broadcast_walks
from engine.clock import utcnow
from engine.handoffs.sla import run_sla
from engine.notifications import service as notifications
from engine.operations import heartbeat as heartbeats
from engine.runtime.sweep import claim_due, release
from engine.runtime.timed_triggers import run_timed_triggers
from engine.scoring.fade import run_decay
from engine.segments.membership import reconcile
from engine.stats import rollups
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
#: How often scoring asks whether a decay period is due (the period itself is in scoring.yaml).
DECAY_INTERVAL = timedelta(minutes=10)
#: How often handoffs due for an SLA reminder or escalation are looked for.
SLA_INTERVAL = timedelta(minutes=1)
#: How often broadcasts are started, walked, decided (A/B) and finished.
BROADCAST_INTERVAL = timedelta(seconds=5)
#: How often the scheduler asks whether stored RFM scores are a day old.
RFM_INTERVAL = timedelta(hours=1)
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
    registry.every("scoring.decay", DECAY_INTERVAL, lambda: decay_scores(runtime))
    registry.every("broadcasts.advance", BROADCAST_INTERVAL, lambda: advance_broadcasts(runtime))
    registry.every("handoffs.sla", SLA_INTERVAL, lambda: handoff_sla(runtime))
    registry.every("stats.rollups", rollups.REFRESH_INTERVAL, lambda: roll_up(runtime))
    registry.every("analytics.rfm", RFM_INTERVAL, lambda: refresh_rfm(runtime))
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


def refresh_rfm(runtime: Runtime) -> int | None:
    """Recompute every customer's RFM class once a day, for ``{rfm: …}`` segments."""
    with runtime.database.unit_of_work() as session:
        stored = refresh_rfm_if_due(session, now=runtime.clock())
    if stored is not None:
        log.info("rfm scores recomputed", extra={"customers": stored})
    return stored


def decay_scores(runtime: Runtime) -> int:
    """Fade the scores of inactive contacts when the scoring file's decay period is due."""
    with runtime.database.unit_of_work() as session:
        moved = run_decay(session, now=runtime.clock())
    if moved:
        log.info("scores decayed", extra={"contacts": moved})
    return moved


def handoff_sla(runtime: Runtime) -> int:
    """Remind reps of handoffs not yet answered and escalate overdue ones, once each."""
    with runtime.database.unit_of_work() as session:
        outgoing = run_sla(session, now=runtime.clock(), settings=runtime.settings)
    notifications.send(
        runtime.database,
        outgoing,
        settings=runtime.settings,
        clock=runtime.clock,
        capture_port=runtime.capture_port,
    )
    return len(outgoing.emails)


def roll_up(runtime: Runtime) -> None:
    """Re-aggregate the delivery rollups of the recent hours from the raw rows."""
    with runtime.database.unit_of_work() as session:
        rollups.catch_up(session, now=runtime.clock())


def advance_broadcasts(runtime: Runtime) -> int:
    """Start due broadcasts, queue their next batches, pick A/B winners, finish the done."""
    progress = advance_broadcast_walks(
        runtime.database, now=runtime.clock(), message_domain=runtime.message_domain
    )
    if progress.started or progress.queued or progress.decided or progress.finished:
        log.info(
            "broadcasts advanced",
            extra={
                "started": progress.started,
                "queued": progress.queued,
                "decided": progress.decided,
                "finished": progress.finished,
            },
        )
    return progress.queued
