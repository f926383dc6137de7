"""Who is in a journey: its enrollments at a step, by status, a keyset page at a time.

The canvas counts contacts per step; this lists them, so "who is waiting in ``wait_2d``?"
and "who left at ``welcome``, and why?" have answers a marketer can click through.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.contacts.enrollments import Standing
from engine.contacts.fields import display_name
from engine.contacts.service import decode_cursor, encode_cursor
from engine.runtime.journeys import require_journey
from engine.store.models import Contact, Enrollment, StepRun

RosterStatus = Literal["live", "active", "waiting", "exited", "all"]
#: The cursor kind of roster pages (enrollment ids).
CURSOR_KIND = "e"


class RosterEntry(Standing):
    """One enrollment with its contact: where it stands, and since when."""

    email: str
    name: str


class RosterPage(BaseModel):
    """Newest enrollment first; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[RosterEntry]
    next_cursor: str | None


def journey_roster(
    session: Session,
    journey_id: str,
    *,
    step: str | None = None,
    status: RosterStatus = "live",
    version: int | None = None,
    visited: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> RosterPage:
    """One page of the journey's enrollments, newest first, narrowed by step, status, version.

    ``live`` is ``active`` and ``waiting`` together. ``visited`` keeps the enrollments that
    ever entered that step (its step runs say so), wherever they are now: who got the welcome
    mail, who took the ``else`` branch. Raises NotFound for an unknown journey and
    InvalidInput (naming ``cursor``) for a cursor this listing did not give.
    """
    require_journey(session, journey_id)
    query = (
        select(Enrollment, Contact.email, Contact.first_name, Contact.last_name, Contact.locale)
        .join(Contact, Contact.id == Enrollment.contact_id)
        .where(Enrollment.journey_id == journey_id)
        .order_by(Enrollment.id.desc())
        .limit(limit + 1)
    )
    if step is not None:
        query = query.where(Enrollment.step == step)
    if version is not None:
        query = query.where(Enrollment.version == version)
    if status == "live":
        query = query.where(Enrollment.status != "exited")
    elif status != "all":
        query = query.where(Enrollment.status == status)
    if visited is not None:
        entered = select(StepRun.enrollment_id).where(
            StepRun.enrollment_id == Enrollment.id, StepRun.step == visited
        )
        query = query.where(entered.exists())
    if cursor:
        query = query.where(Enrollment.id < decode_cursor(cursor, CURSOR_KIND))
    rows = session.execute(query).all()
    items = [
        _entry(enrollment, email, display_name(first, last, locale) or email)
        for enrollment, email, first, last, locale in rows[:limit]
    ]
    more = len(rows) > limit
    return RosterPage(
        items=items, next_cursor=encode_cursor(items[-1].id, CURSOR_KIND) if more else None
    )


def _entry(row: Enrollment, email: str, name: str) -> RosterEntry:
    return RosterEntry(**Standing.of(row), email=email, name=name)
