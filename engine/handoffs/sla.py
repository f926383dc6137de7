"""The handoff SLA: remind the rep after ``remind_after``, escalate at ``accept_within``.

Each step is claimed once in ``handoff_timers`` (``UPDATE … WHERE reminded_at IS NULL
RETURNING``), so a sweep that runs twice, or two schedulers, remind and escalate once each.
Escalation tells ``escalate_to`` and marks the handoff ``escalated``; the rep may still
accept it, and a manager may answer it for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from engine.contacts.service import dialect_insert
from engine.notifications import service as notifications
from engine.notifications.text import compose, contact_name
from engine.scoring.config import active_scoring
from engine.settings import Settings
from engine.store.models import Contact, Handoff, HandoffTimer, User
from engine.store.models.base import table_of

#: Handoffs checked per sweep; the rest wait for the next one.
SLA_BATCH = 500


def run_sla(session: Session, *, now: datetime, settings: Settings) -> notifications.Outgoing:
    """Send due reminders and escalations once each; return the notifications to deliver."""
    spec = active_scoring(session)
    outgoing = notifications.Outgoing()
    if spec is None or spec.sla is None:
        return outgoing
    sla = spec.sla
    handoffs, timers = table_of(Handoff), table_of(HandoffTimer)
    if sla.remind_after is not None:
        due = _claim(
            session,
            and_(handoffs.c.status == "assigned", handoffs.c.created_at <= now - sla.remind_after),
            timers.c.reminded_at,
            now,
        )
        for handoff, contact, rep in _load(session, due):
            if rep is not None:
                outgoing.extend(
                    _tell(session, handoff, contact, rep.email, "reminder", now, settings)
                )
    if sla.escalate_to:
        due = _claim(
            session,
            and_(
                handoffs.c.status.in_(("assigned", "unassigned")),
                handoffs.c.sla_due_at <= now,
            ),
            timers.c.escalated_at,
            now,
        )
        if due:
            session.execute(
                update(handoffs).where(handoffs.c.id.in_(due)).values(status="escalated")
            )
        for handoff, contact, _ in _load(session, due):
            outgoing.extend(
                _tell(session, handoff, contact, sla.escalate_to, "escalation", now, settings)
            )
    return outgoing


def _claim(
    session: Session, due: ColumnElement[bool], column: ColumnElement[datetime], now: datetime
) -> list[int]:
    """Claim the step ``column`` of the due handoffs whose step is not yet taken."""
    handoffs, timers = table_of(Handoff), table_of(HandoffTimer)
    candidates = list(
        session.scalars(
            select(handoffs.c.id)
            .outerjoin(timers, timers.c.handoff_id == handoffs.c.id)
            .where(due, handoffs.c.responded_at.is_(None), column.is_(None))
            .order_by(handoffs.c.id)
            .limit(SLA_BATCH)
        )
    )
    if not candidates:
        return []
    session.execute(
        dialect_insert(session, HandoffTimer).on_conflict_do_nothing(index_elements=["handoff_id"]),
        [{"handoff_id": i} for i in candidates],
    )
    return list(
        session.scalars(
            update(timers)
            .where(timers.c.handoff_id.in_(candidates), column.is_(None))
            .values({column.key: now})
            .returning(timers.c.handoff_id)
        )
    )


def _load(session: Session, ids: Sequence[int]) -> list[tuple[Handoff, Contact, User | None]]:
    if not ids:
        return []
    rows = session.execute(
        select(Handoff, Contact, User)
        .join(Contact, Contact.id == Handoff.contact_id)
        .outerjoin(User, User.id == Handoff.assignee_id)
        .where(Handoff.id.in_(ids))
        .order_by(Handoff.id)
    ).all()
    return [(h, c, u) for h, c, u in rows]


def _tell(
    session: Session,
    handoff: Handoff,
    contact: Contact,
    to: str,
    step: str,
    now: datetime,
    settings: Settings,
) -> notifications.Outgoing:
    due = f"{handoff.sla_due_at:%Y-%m-%d %H:%M} UTC" if handoff.sla_due_at else "-"
    headline = (
        f"Reminder: accept or reject the lead {contact_name(contact)} (handoff {handoff.id})"
        if step == "reminder"
        else f"Escalated: lead {contact_name(contact)} not accepted in time (handoff {handoff.id})"
    )
    subject, body = compose(
        headline=headline,
        contact=contact,
        public_url=settings.public_url,
        details={"Respond by": due, "Assigned by": handoff.reason or "-"},
    )
    return notifications.notify(
        session,
        to={"user": to},
        channel="email",
        subject=subject,
        body=body,
        key=f"handoff:{handoff.id}:{step}",
        now=now,
        settings=settings,
        contact_id=contact.id,
        handoff_id=handoff.id,
    )
