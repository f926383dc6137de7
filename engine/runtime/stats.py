"""Runtime figures in a few aggregate queries: backlog for operators, step counts for marketers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.models import Enrollment, OutboxMessage, StepRun


@dataclass(frozen=True, slots=True)
class Backlog:
    """How far behind the runtime is: due timers and outbox rows not done yet."""

    live: int
    due: int
    oldest_due_age: timedelta | None
    outbox_pending: dict[str, int]
    #: By topic, how long ago its oldest row not done was written.
    outbox_oldest_age: dict[str, timedelta] = field(default_factory=dict)
    #: Rows not done after more than ``RETRYING_AFTER`` sends: their consumer keeps failing.
    outbox_retrying: int = 0


#: Sends of one outbox row after which it counts as retrying rather than in flight.
RETRYING_AFTER = 3


def backlog(session: Session, *, now: datetime) -> Backlog:
    """Count live enrollments, due ones (and the oldest's lateness), pending outbox rows by topic
    (and each topic's oldest), and the rows sent more than ``RETRYING_AFTER`` times."""
    live = session.scalar(
        select(func.count()).select_from(Enrollment).where(Enrollment.status != "exited")
    )
    due, oldest = session.execute(
        select(func.count(), func.min(Enrollment.wake_at)).where(
            Enrollment.status != "exited", Enrollment.wake_at <= now
        )
    ).one()
    pending = session.execute(
        select(
            OutboxMessage.topic,
            func.count(),
            func.min(OutboxMessage.created_at),
            func.count().filter(OutboxMessage.attempts > RETRYING_AFTER),
        )
        .where(OutboxMessage.done_at.is_(None))
        .group_by(OutboxMessage.topic)
    ).all()
    return Backlog(
        live=live or 0,
        due=due or 0,
        oldest_due_age=now - oldest if oldest is not None else None,
        outbox_pending={topic: count for topic, count, _, _ in pending},
        outbox_oldest_age={topic: now - created for topic, _, created, _ in pending},
        outbox_retrying=sum(retrying for _, _, _, retrying in pending),
    )


@dataclass(slots=True)
class StepCounts:
    """Per step of one journey version: how many entered it, wait in it, and left from it."""

    entered: int = 0
    waiting: int = 0
    active: int = 0
    exited: dict[str, int] = field(default_factory=dict)


def step_counts(session: Session, journey_id: str) -> dict[tuple[int, str], StepCounts]:
    """Return counts keyed by (version, step); goals appear as ``goal:<id>`` steps."""
    counts: dict[tuple[int, str], StepCounts] = defaultdict(StepCounts)
    entered = session.execute(
        select(Enrollment.version, StepRun.step, func.count())
        .join(Enrollment, Enrollment.id == StepRun.enrollment_id)
        .where(Enrollment.journey_id == journey_id)
        .group_by(Enrollment.version, StepRun.step)
    )
    for version, step, count in entered:
        counts[(version, step)].entered = count
    here = session.execute(
        select(
            Enrollment.version,
            Enrollment.step,
            Enrollment.status,
            Enrollment.exit_reason,
            func.count(),
        )
        .where(Enrollment.journey_id == journey_id)
        .group_by(Enrollment.version, Enrollment.step, Enrollment.status, Enrollment.exit_reason)
    )
    for version, step, status, reason, count in here:
        slot = counts[(version, step)]
        if status == "waiting":
            slot.waiting += count
        elif status == "active":
            slot.active += count
        else:
            slot.exited[reason or "unknown"] = slot.exited.get(reason or "unknown", 0) + count
    return dict(counts)
