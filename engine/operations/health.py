"""Is the runtime keeping up? One report for ``GET /api/health/runtime`` and ``nurture status``.

Most of it is read from the database: heartbeats (who runs, who leads, the last probe's
latency), the enrollment backlog, the outbox, failed messages and dead webhooks. Two things
only the composition root knows come in as ``RuntimeProbes``: how to read the broker's queue
depths, and which outbox topics have a consumer (a topic without one waits on purpose, so its
age is no alarm). Functions take a session and never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.operations.heartbeat import LIVE_WITHIN, LiveProcess, live_processes
from engine.runtime.stats import Backlog, backlog
from engine.store.models import Message, WebhookDelivery

#: The oldest due enrollment may be this late before the runtime counts as degraded.
DUE_LATE_AFTER = timedelta(seconds=60)
#: The oldest pending outbox row of a consumed topic may be this old before it does.
OUTBOX_LATE_AFTER = timedelta(minutes=5)
#: Roles whose process takes messages off the broker, and roles that may lead the sweeps.
WORKER_ROLES = frozenset({"worker", "up"})
SCHEDULER_ROLES = frozenset({"scheduler", "up"})


@dataclass(frozen=True, slots=True)
class RuntimeProbes:
    """What the database cannot say, supplied by the process that owns the broker.

    ``queue_depths`` returns messages per queue (and may raise when the broker is down);
    None means the queues are not visible from here. ``consumed_topics`` None counts every
    outbox topic as consumed.
    """

    broker: str = "in-process"
    queue_depths: Callable[[], Mapping[str, int]] | None = None
    consumed_topics: Collection[str] | None = None


@dataclass(frozen=True, slots=True)
class ErrorCounts:
    """Recent failures: messages whose send failed, webhooks given up, outbox rows retrying."""

    messages_failed_5m: int = 0
    messages_failed_60m: int = 0
    webhooks_dead: int = 0
    webhooks_dead_60m: int = 0
    outbox_retrying: int = 0


@dataclass(frozen=True, slots=True)
class RuntimeReport:
    """The runtime at ``checked_at``; ``reasons`` is empty when all is well."""

    checked_at: datetime
    backlog: Backlog
    processes: list[LiveProcess]
    errors: ErrorCounts
    broker: str
    queues: dict[str, int] | None = None
    broker_error: str | None = None
    consumed_topics: frozenset[str] | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``ok``, or ``degraded`` when there is any reason to look."""
        return "degraded" if self.reasons else "ok"

    @property
    def workers(self) -> list[LiveProcess]:
        """Live processes that take messages off the broker."""
        return [p for p in self.processes if p.role in WORKER_ROLES]

    @property
    def leader(self) -> LiveProcess | None:
        """The live process whose heartbeat says it leads the sweeps, if any."""
        leaders = [p for p in self.processes if p.role in SCHEDULER_ROLES and p.info.get("leader")]
        return max(leaders, key=lambda p: p.seen_at) if leaders else None

    @property
    def last_probe(self) -> tuple[LiveProcess, dict[str, Any]] | None:
        """The worker that took the newest probe, and that probe (``latency_ms``, ...)."""
        probes = [
            (p, p.info["probe"]) for p in self.workers if isinstance(p.info.get("probe"), dict)
        ]
        return max(probes, key=lambda pair: str(pair[1].get("received_at", ""))) if probes else None

    def oldest_pending_age(self) -> timedelta | None:
        """How long the oldest outbox row of a consumed topic has waited."""
        ages = [
            age
            for topic, age in self.backlog.outbox_oldest_age.items()
            if self.consumed_topics is None or topic in self.consumed_topics
        ]
        return max(ages) if ages else None

    def document(self) -> dict[str, Any]:
        """The report as JSON: what the endpoint returns and ``nurture status --json`` prints."""
        now = self.checked_at
        probe = self.last_probe
        oldest_pending = self.oldest_pending_age()
        leader = self.leader
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "checked_at": now.isoformat(),
            "enrollments": {
                "live": self.backlog.live,
                "due": self.backlog.due,
                "oldest_due_age_s": _seconds(self.backlog.oldest_due_age),
            },
            "outbox": {
                "pending": sum(self.backlog.outbox_pending.values()),
                "oldest_pending_age_s": _seconds(oldest_pending),
                "topics": {
                    topic: {
                        "pending": count,
                        "oldest_age_s": _seconds(self.backlog.outbox_oldest_age.get(topic)),
                        "consumed": self.consumed_topics is None or topic in self.consumed_topics,
                    }
                    for topic, count in sorted(self.backlog.outbox_pending.items())
                },
            },
            "broker": {
                "url": self.broker,
                "reachable": self.broker_error is None,
                "queues": self.queues,
                "error": self.broker_error,
            },
            "workers": {
                "alive": len(self.workers),
                "last_probe": None
                if probe is None
                else {
                    "process": probe[0].id,
                    "latency_ms": probe[1].get("latency_ms"),
                    "received_at": probe[1].get("received_at"),
                },
            },
            "scheduler": {
                "alive": sum(1 for p in self.processes if p.role in SCHEDULER_ROLES),
                "leader": leader.id if leader is not None else None,
            },
            "errors": {
                "messages_failed_5m": self.errors.messages_failed_5m,
                "messages_failed_60m": self.errors.messages_failed_60m,
                "webhooks_dead": self.errors.webhooks_dead,
                "webhooks_dead_60m": self.errors.webhooks_dead_60m,
                "outbox_retrying": self.errors.outbox_retrying,
            },
            "processes": [
                {
                    "id": p.id,
                    "role": p.role,
                    "host": p.host,
                    "pid": p.pid,
                    "started_at": p.started_at.isoformat(),
                    "seen_age_s": _seconds(now - p.seen_at),
                    "leader": bool(p.info.get("leader")) if p.role in SCHEDULER_ROLES else None,
                    "queues": p.info.get("queues"),
                }
                for p in self.processes
            ],
        }


def error_counts(session: Session, *, now: datetime, outbox_retrying: int = 0) -> ErrorCounts:
    """Count messages that failed (queued in the last 5 and 60 minutes) and dead webhooks: the
    whole dead-letter list, and those of it created in the last hour."""
    hour, five = now - timedelta(hours=1), now - timedelta(minutes=5)
    failed_5m, failed_60m = session.execute(
        select(func.count().filter(Message.queued_at >= five), func.count()).where(
            Message.status == "failed", Message.queued_at >= hour
        )
    ).one()
    dead, dead_60m = session.execute(
        select(func.count(), func.count().filter(WebhookDelivery.created_at >= hour)).where(
            WebhookDelivery.status == "dead"
        )
    ).one()
    return ErrorCounts(
        messages_failed_5m=failed_5m or 0,
        messages_failed_60m=failed_60m or 0,
        webhooks_dead=dead or 0,
        webhooks_dead_60m=dead_60m or 0,
        outbox_retrying=outbox_retrying,
    )


def runtime_report(
    session: Session, *, now: datetime, probes: RuntimeProbes | None = None
) -> RuntimeReport:
    """Read the runtime's figures and decide whether it is ``ok`` or ``degraded`` (and why).

    Degraded: no live worker, no leading scheduler, the oldest due enrollment over
    ``DUE_LATE_AFTER`` late, a consumed outbox row pending over ``OUTBOX_LATE_AFTER``, or
    the broker not answering.
    """
    probes = probes or RuntimeProbes()
    figures = backlog(session, now=now)
    queues, broker_error = _read_queues(probes)
    consumed = probes.consumed_topics
    report = RuntimeReport(
        checked_at=now,
        backlog=figures,
        processes=live_processes(session, now=now),
        errors=error_counts(session, now=now, outbox_retrying=figures.outbox_retrying),
        broker=probes.broker,
        queues=queues,
        broker_error=broker_error,
        consumed_topics=None if consumed is None else frozenset(consumed),
    )
    return replace(report, reasons=_reasons(report))


def _read_queues(probes: RuntimeProbes) -> tuple[dict[str, int] | None, str | None]:
    if probes.queue_depths is None:
        return None, None
    try:
        return dict(sorted(probes.queue_depths().items())), None
    except Exception as error:  # a health report must answer, whatever the broker does
        return None, f"{type(error).__name__}: {error}"[:200]


def _reasons(report: RuntimeReport) -> list[str]:
    within = int(LIVE_WITHIN.total_seconds())
    reasons = []
    if not report.workers:
        reasons.append(f"no worker has reported in the last {within} s")
    if report.leader is None:
        reasons.append(f"no scheduler leads (none reporting as leader in the last {within} s)")
    late = report.backlog.oldest_due_age
    if late is not None and late > DUE_LATE_AFTER:
        reasons.append(
            f"the oldest due enrollment is {late.total_seconds():.0f} s late "
            f"(over {DUE_LATE_AFTER.total_seconds():.0f} s)"
        )
    waiting = report.oldest_pending_age()
    if waiting is not None and waiting > OUTBOX_LATE_AFTER:
        reasons.append(
            f"the oldest pending outbox row is {waiting.total_seconds():.0f} s old "
            f"(over {OUTBOX_LATE_AFTER.total_seconds():.0f} s)"
        )
    if report.broker_error is not None:
        reasons.append(f"the broker does not answer: {report.broker_error}")
    return reasons


def _seconds(age: timedelta | None) -> float | None:
    return None if age is None else round(age.total_seconds(), 3)
