"""Carry out a ``handoff.created`` row: assign, set the SLA, notify the owner, queue the CRM call.

Everything happens in the consumer's unit of work, guarded by the handoff leaving
``pending``: a redelivered row finds it assigned already and does nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.handoffs.assignment import choose_assignee
from engine.notifications import service as notifications
from engine.notifications.text import compose, contact_link, contact_name, render_message
from engine.scoring.config import active_scoring
from engine.settings import Settings
from engine.store.models import Contact, Handoff, User
from engine.store.models.base import table_of
from engine.webhooks import service as webhooks
from engine.webhooks.delivery import Attempt

#: How long the new owner has to respond, from the handoff.
DEFAULT_SLA = timedelta(hours=24)
#: Contact columns a CRM ``sync_fields`` entry may name; other names are attributes.
CONTACT_COLUMNS = ("email", "first_name", "last_name", "lifecycle_stage", "score", "grade")


def process_handoff(
    session: Session, handoff_id: int, *, now: datetime, settings: Settings
) -> notifications.Outgoing:
    """Assign a pending handoff, notify its owner and queue its CRM webhook; return what to send.

    A handoff no longer pending (or gone) is left alone.
    """
    table = table_of(Handoff)
    # The update is the claim: it locks the row, and a second consumer finds it not pending.
    claimed = session.scalar(
        update(table)
        .where(table.c.id == handoff_id, table.c.status == "pending")
        .values(status="assigned")
        .returning(table.c.id)
    )
    if claimed is None:
        return notifications.Outgoing()
    handoff = session.scalars(select(Handoff).where(Handoff.id == handoff_id)).one()
    contact = session.scalars(select(Contact).where(Contact.id == handoff.contact_id)).one()
    brief = handoff.brief or {}
    if handoff.assignee_id is None:
        choice = choose_assignee(
            session,
            strategy=str(brief["strategy"]) if brief.get("strategy") else None,
            pool=handoff.pool,
            fallback=brief.get("fallback") or {},
            contact=contact,
            now=now,
        )
        handoff.assignee_id = choice.user_id
        handoff.reason = choice.reason
    scoring = active_scoring(session)
    sla = scoring.sla.accept_within if scoring and scoring.sla else DEFAULT_SLA
    handoff.sla_due_at = handoff.created_at + sla
    if handoff.assignee_id is None:
        handoff.status = "unassigned"
    assignee = session.get(User, handoff.assignee_id) if handoff.assignee_id else None
    outgoing = notifications.Outgoing()
    if assignee is not None:
        outgoing.extend(_notify_owner(session, handoff, contact, assignee, now, settings))
    if settings.crm_webhook_url:
        outgoing.webhooks += _queue_crm(session, handoff, contact, assignee, now, settings)
    session.flush()
    return outgoing


def _notify_owner(
    session: Session,
    handoff: Handoff,
    contact: Contact,
    assignee: User,
    now: datetime,
    settings: Settings,
) -> notifications.Outgoing:
    brief = handoff.brief or {}
    notify: Mapping[str, Any] = brief.get("notify") or {}
    message = notify.get("message")
    headline = (
        render_message(str(message), contact)
        if message
        else f"Lead handed to you: {contact_name(contact)} (score {contact.score})"
    )
    details = {"Respond by": f"{handoff.sla_due_at:%Y-%m-%d %H:%M} UTC"}
    if brief.get("task_title"):
        due = brief.get("task_due")
        task = render_message(str(brief["task_title"]), contact)
        details["Task"] = f"{task} (due {due})" if due else task
    if handoff.reason:
        details["Assigned by"] = handoff.reason
    subject, body = compose(
        headline=headline, contact=contact, public_url=settings.public_url, details=details
    )
    return notifications.notify(
        session,
        to={"user": assignee.email},
        channel=str(notify.get("channel") or "email"),
        subject=subject,
        body=body,
        key=f"handoff:{handoff.id}:assignee",
        now=now,
        settings=settings,
        contact_id=contact.id,
        enrollment_id=handoff.enrollment_id,
        handoff_id=handoff.id,
    )


def _queue_crm(
    session: Session,
    handoff: Handoff,
    contact: Contact,
    assignee: User | None,
    now: datetime,
    settings: Settings,
) -> list[Attempt]:
    payload = crm_payload(handoff, contact, assignee, settings)
    delivery_id = webhooks.queue_delivery(
        session,
        webhook_id=f"crm_handoff_{handoff.id}",
        kind="crm",
        url=settings.crm_webhook_url,
        headers={"Content-Type": "application/json", "Idempotency-Key": f"handoff-{handoff.id}"},
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        now=now,
        contact_id=contact.id,
        enrollment_id=handoff.enrollment_id,
        handoff_id=handoff.id,
    )
    handoff.crm_status = "pending"
    return webhooks.claim(session, now=now, ids=[delivery_id])


def crm_payload(
    handoff: Handoff, contact: Contact, assignee: User | None, settings: Settings
) -> dict[str, Any]:
    """Return the JSON a CRM receives for a handoff: who, how hot, to whom, and the brief."""
    brief = handoff.brief or {}
    crm: Mapping[str, Any] = brief.get("crm") or {}
    fields = {path: _field(contact, path) for path in crm.get("sync_fields") or ()}
    return {
        "type": "handoff.created",
        "handoff_id": handoff.id,
        "created_at": handoff.created_at.isoformat(),
        "sla_due_at": handoff.sla_due_at.isoformat() if handoff.sla_due_at else None,
        "pool": handoff.pool,
        "assignee": ({"email": assignee.email, "name": _user_name(assignee)} if assignee else None),
        "contact": {
            "id": contact.id,
            "email": contact.email,
            "name": contact_name(contact),
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "lifecycle_stage": contact.lifecycle_stage,
            "url": contact_link(settings.public_url, contact.id),
            "fields": fields,
        },
        "score": contact.score,
        "brief": brief,
    }


def _field(contact: Contact, path: str) -> Any:
    if path in CONTACT_COLUMNS:
        return getattr(contact, path)
    node: Any = contact.attributes or {}
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _user_name(user: User) -> str:
    parts = [p for p in (user.family_name, user.given_name) if p]
    return " ".join(parts) or user.email
