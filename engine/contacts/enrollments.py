"""A contact's journeys: every enrollment, where it stands and what it waits for.

The answer to "which journeys is this contact in, and why has nothing happened yet?":
live enrollments first (with the step they are at, the time they wake and the event that
would wake them sooner), then the ended ones with their exit reason, newest first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from engine.store.models import Enrollment, Journey

#: The most enrollments one answer lists (a contact re-entering a journey daily for years).
MAX_LISTED = 500


class Standing(BaseModel):
    """Where one enrollment stands: its version and step, and what comes next or why it ended.

    ``status`` is ``active`` (due to run its step), ``waiting`` (until ``wake_at`` and/or an
    event named ``waiting_for``) or ``exited`` (``exit_reason`` says why: a step's own reason,
    ``exit_when``, ``goal:<id>``, ``removed`` …).
    """

    id: int
    version: int
    status: str
    step: str
    entered_at: datetime
    wake_at: datetime | None
    waiting_for: str | None
    exited_at: datetime | None
    exit_reason: str | None

    @staticmethod
    def of(row: Enrollment) -> dict[str, Any]:
        """The standing fields of a stored enrollment, to build this model or one extending it."""
        waiting = row.status == "waiting"
        listening = (row.waiting_on or {}).get("event") if waiting else None
        return {
            "id": row.id,
            "version": row.version,
            "status": row.status,
            "step": row.step,
            "entered_at": row.entered_at,
            "wake_at": row.wake_at if waiting else None,
            "waiting_for": listening if isinstance(listening, str) else None,
            "exited_at": row.exited_at,
            "exit_reason": row.exit_reason,
        }


class ContactEnrollment(Standing):
    """One run of the contact through a journey version; ``trigger`` is what enrolled it: an
    event name, ``manual``, ``schedule`` or the trigger's kind."""

    journey_id: str
    journey_name: str | None
    steps_taken: int
    trigger: str | None
    key: str


def contact_enrollments(
    session: Session, contact_id: int, *, limit: int = MAX_LISTED
) -> list[ContactEnrollment]:
    """Return the contact's enrollments: live ones first, then by entry, newest first."""
    ended = case((Enrollment.status == "exited", 1), else_=0)
    rows = session.execute(
        select(Enrollment, Journey.name)
        .outerjoin(Journey, Journey.id == Enrollment.journey_id)
        .where(Enrollment.contact_id == contact_id)
        .order_by(ended, Enrollment.entered_at.desc(), Enrollment.id.desc())
        .limit(limit)
    )
    return [_out(enrollment, name) for enrollment, name in rows]


def _out(row: Enrollment, journey_name: str | None) -> ContactEnrollment:
    trigger = (row.entry or {}).get("name")
    return ContactEnrollment(
        **Standing.of(row),
        journey_id=row.journey_id,
        journey_name=journey_name,
        steps_taken=row.steps_taken,
        trigger=trigger if isinstance(trigger, str) else None,
        key=row.key,
    )
