"""Sales answers a handoff: accept (the lead becomes an SQL) or reject with a reason.

A rejected lead is ``recycled`` and gets a ``handoff_rejected`` event, so a nurture journey
triggered by that event takes it back. Both answers are one guarded UPDATE on an open
handoff, so two clicks (or a rep and a manager) cannot both answer it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engine.events.service import store_events
from engine.store.models import Contact, Handoff, StageChange
from engine.store.models.base import table_of

#: Handoffs still waiting for an answer.
OPEN = ("pending", "assigned", "unassigned", "escalated")
Answer = Literal["accepted", "rejected"]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who asks: a user (or none, for a shared key) and whether they see every handoff."""

    user_id: int | None
    sees_all: bool


def list_handoffs(
    session: Session,
    viewer: Viewer,
    *,
    mine: bool = False,
    status: str | None = None,
    limit: int = 50,
    before: int | None = None,
) -> list[Handoff]:
    """Return handoffs newest first; a viewer who cannot see all sees only their own."""
    query = select(Handoff).order_by(Handoff.id.desc()).limit(limit)
    if mine or not viewer.sees_all:
        if viewer.user_id is None:
            raise PermissionDenied("this API key is not tied to a user, so it has no handoffs")
        query = query.where(Handoff.assignee_id == viewer.user_id)
    if status is not None:
        query = query.where(Handoff.status == status)
    if before is not None:
        query = query.where(Handoff.id < before)
    return list(session.scalars(query))


def get_handoff(session: Session, handoff_id: int, viewer: Viewer) -> Handoff:
    """Return one handoff; NotFound when missing or (for a rep) not theirs."""
    handoff = session.get(Handoff, handoff_id)
    if handoff is None or not (viewer.sees_all or handoff.assignee_id == viewer.user_id):
        raise NotFound(f"no handoff {handoff_id}")
    return handoff


def answer(
    session: Session,
    handoff_id: int,
    viewer: Viewer,
    *,
    accept: bool,
    now: datetime,
    reason: str | None = None,
) -> Handoff:
    """Accept or reject an open handoff; raises NotFound, PermissionDenied, Conflict, InvalidInput.

    Accepting moves an MQL to ``sql``; rejecting moves the lead to ``recycled`` and stores a
    ``handoff_rejected`` event with the reason.
    """
    if not accept and not (reason and reason.strip()):
        raise InvalidInput("a rejection needs a reason (field: reason)")
    handoff = get_handoff(session, handoff_id, viewer)
    if not viewer.sees_all and handoff.assignee_id != viewer.user_id:
        raise PermissionDenied("only the assigned rep or a manager may answer this handoff")
    status: Answer = "accepted" if accept else "rejected"
    table = table_of(Handoff)
    values: dict[str, Any] = {"status": status, "responded_at": now}
    if handoff.assignee_id is None and viewer.user_id is not None:
        values["assignee_id"] = viewer.user_id  # whoever takes an unassigned lead owns it
    if not accept:
        values["brief"] = {
            **(handoff.brief or {}),
            "rejection": {"reason": reason, "by": viewer.user_id, "at": now.isoformat()},
        }
    answered = session.scalar(
        update(table)
        .where(table.c.id == handoff_id, table.c.status.in_(OPEN))
        .values(**values)
        .returning(table.c.id)
    )
    if answered is None:
        raise Conflict(f"handoff {handoff_id} was already answered ({handoff.status})")
    session.expire(handoff)
    if accept:
        _move_stage(session, handoff.contact_id, ("mql",), "sql", "handoff accepted", now)
    else:
        _move_stage(
            session,
            handoff.contact_id,
            ("mql", "sql"),
            "recycled",
            f"handoff rejected: {reason}",
            now,
        )
    store_events(
        session,
        [
            {
                "contact_id": handoff.contact_id,
                "anonymous_id": None,
                "type": f"handoff_{status}",
                "properties": {"handoff_id": handoff_id, "reason": reason},
                "occurred_at": now,
                "received_at": now,
                "source": "sales",
                "idempotency_key": f"handoff:{handoff_id}:{status}",
            }
        ],
        now=now,
    )
    session.flush()
    return handoff


def _move_stage(
    session: Session,
    contact_id: int,
    from_stages: tuple[str, ...],
    to_stage: str,
    reason: str,
    now: datetime,
) -> None:
    table = table_of(Contact)
    before = session.scalar(select(table.c.lifecycle_stage).where(table.c.id == contact_id))
    moved = session.scalar(
        update(table)
        .where(table.c.id == contact_id, table.c.lifecycle_stage.in_(from_stages))
        .values(lifecycle_stage=to_stage, updated_at=now)
        .returning(table.c.id)
    )
    if moved is not None:
        session.execute(
            table_of(StageChange).insert(),
            [
                {
                    "contact_id": contact_id,
                    "from_stage": before,
                    "to_stage": to_stage,
                    "reason": reason,
                    "occurred_at": now,
                }
            ],
        )
