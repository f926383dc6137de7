"""The scheduler's standard sweeps; later features add theirs here, one line each."""

from __future__ import annotations

import logging

from engine.clock import utcnow
from engine.operations import heartbeat as heartbeats
from workers import actors
from workers.runtime import Runtime
from workers.scheduler import JobRegistry

log = logging.getLogger(__name__)


def standard_jobs(runtime: Runtime) -> JobRegistry:
    """Return the registry of every sweep, bound to this process's runtime."""
    registry = JobRegistry()
    registry.every("heartbeats.probe", heartbeats.BEAT_INTERVAL, send_probe)
    registry.every("heartbeats.prune", heartbeats.PRUNE_AFTER / 6, lambda: prune(runtime))
    return registry


def send_probe() -> None:
    """Send a probe through the broker; the worker that takes it notes it on its heartbeat."""
    actors.probe.send(utcnow().isoformat())


def prune(runtime: Runtime) -> None:
    """Delete heartbeats of processes not seen for an hour."""
    with runtime.database.unit_of_work() as session:
        removed = heartbeats.prune(session, now=utcnow())
    if removed:
        log.info("pruned %d stale process heartbeats", removed)
