"""Create, schedule, cancel and report broadcasts; ``advance`` is the scheduler's step."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.broadcasts.decide import decide
from engine.broadcasts.spec import BroadcastSpec, parse_broadcast
from engine.broadcasts.walk import (
    WALK_BATCH,
    due_decisions,
    finish_sent,
    sending,
    start_due,
    walk_batch,
)
from engine.errors import Conflict, FieldProblem, InvalidInput, NotFound
from engine.journey.diagnostics import Diagnostic
from engine.store.db import Database
from engine.store.models import Broadcast, ContactList, Message, Segment
from engine.store.models.base import table_of

log = logging.getLogger(__name__)

#: States from which a broadcast can still be cancelled.
CANCELLABLE = ("draft", "scheduled", "sending", "sent")


def broadcasts_folder(journeys_dir: Path) -> Path:
    """Where broadcast files live: ``<journeys>/broadcasts``."""
    return journeys_dir / "broadcasts"


def read_broadcast(path: Path) -> tuple[BroadcastSpec | None, str, list[Diagnostic]]:
    """Parse one file; its id must match the file name."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        found = Diagnostic(path.as_posix(), 1, 1, "error", "E100", "<document>", str(error))
        return None, "", [found]
    spec, problems = parse_broadcast(source, path.as_posix(), expected_id=path.stem)
    return spec, source, problems


def create_broadcast(
    session: Session, spec: BroadcastSpec, *, source: str | None, now: datetime
) -> Broadcast:
    """Store a draft (``scheduled`` when the spec has ``send_at``); never commits.

    Raises ``Conflict`` when the id is taken and ``InvalidInput`` for an unknown segment.
    """
    if session.get(Broadcast, spec.id) is not None:
        raise Conflict(f"broadcast {spec.id} already exists")
    segment = spec.audience.segment
    if segment is not None and session.get(Segment, segment) is None:
        raise InvalidInput(
            f"unknown segment {segment}",
            problems=[FieldProblem("audience.segment", f"no segment {segment} (sync it first)")],
        )
    static_list = spec.audience.static_list
    if (
        static_list is not None
        and session.scalar(select(ContactList.id).where(ContactList.key == static_list)) is None
    ):
        raise InvalidInput(
            f"unknown list {static_list}",
            problems=[FieldProblem("audience.list", f"no list with the key {static_list}")],
        )
    broadcast = Broadcast(
        id=spec.id,
        name=spec.name,
        source=source,
        template=spec.template,
        subject=spec.subject,
        topic=spec.topic,
        segment=segment,
        tag=spec.audience.tagged,
        list_key=static_list,
        ab=spec.ab.model_dump(mode="json") if spec.ab else None,
        status="draft",
        cursor=0,
        created_at=now,
        updated_at=now,
    )
    session.add(broadcast)
    if spec.send_at is not None:
        schedule(session, broadcast, at=spec.send_at, now=now)
    session.flush()
    return broadcast


def get_broadcast(session: Session, broadcast_id: str) -> Broadcast:
    """The broadcast; raises ``NotFound``."""
    found = session.get(Broadcast, broadcast_id)
    if found is None:
        raise NotFound(f"no broadcast {broadcast_id}")
    return found


def send_broadcast(
    session: Session, broadcast_id: str, *, at: datetime | None, now: datetime
) -> Broadcast:
    """Schedule a draft for ``at`` (now when None); the scheduler starts it when due."""
    broadcast = get_broadcast(session, broadcast_id)
    if broadcast.status != "draft":
        raise Conflict(f"broadcast {broadcast_id} is {broadcast.status}, not a draft")
    schedule(session, broadcast, at=at or now, now=now)
    return broadcast


def schedule(session: Session, broadcast: Broadcast, *, at: datetime, now: datetime) -> None:
    """Set the send time and the first phase of the walk."""
    broadcast.status = "scheduled"
    broadcast.send_at = at
    broadcast.phase = "sample" if broadcast.ab else "all"
    broadcast.cursor = 0
    broadcast.updated_at = now


def cancel_broadcast(session: Session, broadcast_id: str, *, now: datetime) -> Broadcast:
    """Stop a broadcast: its walk ends and its messages not yet sent are skipped."""
    broadcast = get_broadcast(session, broadcast_id)
    if broadcast.status not in CANCELLABLE:
        raise Conflict(f"broadcast {broadcast_id} is {broadcast.status}; it cannot be cancelled")
    broadcast.status = "cancelled"
    broadcast.updated_at = now
    table = table_of(Message)
    session.execute(
        update(table)
        .where(table.c.broadcast_id == broadcast_id, table.c.status == "queued")
        .values(status="skipped", error="broadcast cancelled")
    )
    return broadcast


@dataclass(frozen=True, slots=True)
class BroadcastView:
    """A broadcast with its messages counted by status (and by variant, under A/B)."""

    broadcast: Broadcast
    counts: dict[str, int]
    variants: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return it as JSON-ready data."""
        b = self.broadcast
        return {
            "id": b.id,
            "name": b.name,
            "status": b.status,
            "template": b.template,
            "subject": b.subject,
            "topic": b.topic,
            "audience": _audience(b),
            "send_at": b.send_at.isoformat() if b.send_at else None,
            "phase": b.phase,
            "cursor": b.cursor,
            "ab": b.ab,
            "winner": b.winner,
            "ab_result": b.ab_result,
            "decide_at": b.decide_at.isoformat() if b.decide_at else None,
            "sent_at": b.sent_at.isoformat() if b.sent_at else None,
            "finished_at": b.finished_at.isoformat() if b.finished_at else None,
            "messages": self.counts,
            "variants": self.variants,
        }


def _audience(b: Broadcast) -> dict[str, str | None]:
    if b.segment:
        return {"segment": b.segment}
    return {"tag": b.tag} if b.tag else {"list": b.list_key}


def show_broadcast(session: Session, broadcast_id: str) -> BroadcastView:
    """The broadcast and its message counts."""
    broadcast = get_broadcast(session, broadcast_id)
    counts: dict[str, int] = {}
    variants: dict[str, dict[str, int]] = {}
    for variant, status, count in session.execute(
        select(Message.variant, Message.status, func.count())
        .where(Message.broadcast_id == broadcast_id)
        .group_by(Message.variant, Message.status)
    ):
        counts[status] = counts.get(status, 0) + count
        if variant is not None:
            variants.setdefault(variant, {})[status] = count
    return BroadcastView(broadcast, counts, variants)


def list_broadcasts(session: Session) -> list[Broadcast]:
    """Every broadcast, newest first."""
    return list(session.scalars(select(Broadcast).order_by(Broadcast.created_at.desc())))


@dataclass(slots=True)
class Progress:
    """What one scheduler step did."""

    started: list[str] = field(default_factory=list)
    queued: int = 0
    decided: dict[str, str] = field(default_factory=dict)
    finished: list[str] = field(default_factory=list)


def advance(
    database: Database,
    *,
    now: datetime,
    message_domain: str,
    batch: int = WALK_BATCH,
    max_batches: int = 20,
) -> Progress:
    """Start due broadcasts, walk up to ``max_batches`` batches each, pick due winners, finish.

    Each batch is its own unit of work, so a crash between two loses neither.
    """
    progress = Progress()
    with database.unit_of_work() as session:
        progress.started = start_due(session, now=now)
        for broadcast_id in due_decisions(session, now=now):
            winner = decide(session, broadcast_id, now=now)
            if winner is not None:
                progress.decided[broadcast_id] = winner
    with database.sessions() as session:
        walking = sending(session)
    for broadcast_id in walking:
        for _ in range(max_batches):
            with database.unit_of_work() as session:
                result = walk_batch(
                    session, broadcast_id, now=now, message_domain=message_domain, batch=batch
                )
            progress.queued += result.queued
            if result.contacts == 0:
                break
    with database.unit_of_work() as session:
        progress.finished = finish_sent(session, now=now)
    return progress
