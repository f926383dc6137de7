"""Periodic jobs (sweeps) run by the leading scheduler process only.

Features register their sweeps on a ``JobRegistry`` with one call::

    registry.every("journeys.timers", timedelta(seconds=5), enqueue_due_timers)

Every scheduler process schedules every job, but a job body runs only while its process
holds leadership (see ``workers.leadership``); standbys keep renewing their claim and take
over when the leader's lease lapses. Embedded mode runs a ``BackgroundScheduler`` inside
``nurture up``; production runs a ``BlockingScheduler`` as ``nurture scheduler``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from workers.leadership import LEASE_TTL, Leadership

log = logging.getLogger(__name__)

#: A third of the lease TTL: two renewals may fail before the lease lapses.
RENEW_EVERY = timedelta(seconds=LEASE_TTL / 3)


@dataclass(frozen=True, slots=True)
class Job:
    """A sweep the leader runs every ``every``; ``run`` takes no arguments and commits itself."""

    name: str
    every: timedelta
    run: Callable[[], object]


class JobRegistry:
    """The sweeps of a scheduler, by name."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    def every(self, name: str, interval: timedelta, run: Callable[[], object]) -> Job:
        """Register ``run`` to run on the leader every ``interval``.

        Raises ValueError for a name used twice or an interval that is not positive.
        """
        if name in self._jobs:
            raise ValueError(f"a job named {name!r} is already registered")
        if interval <= timedelta(0):
            raise ValueError(f"job {name!r}: the interval must be positive, not {interval}")
        job = Job(name=name, every=interval, run=run)
        self._jobs[name] = job
        return job

    def names(self) -> list[str]:
        """Return the registered job names, in registration order."""
        return list(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs.values()))

    def __len__(self) -> int:
        return len(self._jobs)


class LeaderScheduler:
    """An APScheduler that claims leadership on a timer and runs jobs only while leading.

    ``on_change(leading)`` is called when this process becomes or stops being the leader.
    """

    def __init__(
        self,
        registry: JobRegistry,
        leadership: Leadership,
        *,
        blocking: bool = False,
        renew_every: timedelta = RENEW_EVERY,
        name: str = "scheduler",
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.registry = registry
        self.leadership = leadership
        self.name = name
        self._on_change = on_change
        self._renew_every = renew_every
        self._was_leader = False
        self._stopped = threading.Event()
        executors = {
            "default": ThreadPoolExecutor(max_workers=4),
            # Renewal gets a thread of its own: a slow job must not cost us the lease.
            "leadership": ThreadPoolExecutor(max_workers=1),
        }
        defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        kind = BlockingScheduler if blocking else BackgroundScheduler
        self._scheduler: BaseScheduler = kind(
            executors=executors, job_defaults=defaults, timezone=UTC
        )
        self._scheduler.add_job(
            self._claim,
            IntervalTrigger(seconds=renew_every.total_seconds(), timezone=UTC),
            id="leadership",
            name="leadership",
            executor="leadership",
            next_run_time=datetime.now(UTC),
        )
        for job in registry:
            self._scheduler.add_job(
                self._guarded(job),
                IntervalTrigger(seconds=job.every.total_seconds(), timezone=UTC),
                id=job.name,
                name=job.name,
            )

    @property
    def is_leader(self) -> bool:
        """True while this scheduler leads (and so runs jobs)."""
        return self.leadership.is_leader

    def start(self) -> None:
        """Start; a blocking scheduler returns only after ``shutdown`` (from another thread)."""
        log.info("%s starting with jobs: %s", self.name, ", ".join(self.registry.names()))
        self._scheduler.start()

    def shutdown(self, *, release: bool = True, wait: bool = True) -> None:
        """Stop scheduling, wait for running jobs, and (unless told not to) give up the lead.

        ``release=False`` leaves the lease to lapse, as a killed process would.
        """
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        if release:
            self.leadership.release()
        log.info("%s stopped", self.name)

    def _claim(self) -> None:
        if self._stopped.is_set():
            return
        try:
            leading = self.leadership.acquire_or_renew()
        except Exception:  # a claim that blew up is a claim not held
            log.exception("%s: leadership check failed", self.name)
            leading = False
        if leading != self._was_leader:
            log.info("%s %s", self.name, "is now the leader" if leading else "is standing by")
            self._was_leader = leading
            if self._on_change is not None:
                try:
                    self._on_change(leading)
                except Exception:  # a listener's failure must not cost the lease
                    log.exception("%s: leadership listener failed", self.name)

    def _guarded(self, job: Job) -> Callable[[], object]:
        def run() -> None:
            if self._stopped.is_set() or not self.leadership.is_leader:
                return
            try:
                job.run()
            except Exception:  # one failed sweep must not stop the next one
                log.exception("job %s failed", job.name)

        run.__name__ = job.name
        return run
