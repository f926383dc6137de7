"""Notifications: who receives them, one row each, and how each channel gets them out.

Rows are written in the consumer's unit of work under a unique idempotency key
(``<step run key>:<user id>``), so a redelivered ``notify`` row writes nothing twice.
``in_app`` rows are done once written (the admin UI shows them); ``email`` rows are sent
after the commit through the SMTP server; ``slack`` becomes one signed webhook delivery to
``NURTURE_SLACK_WEBHOOK_URL``, retried like any webhook.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from engine.contacts.service import dialect_insert
from engine.email.capture import effective_smtp_url
from engine.errors import NotFound
from engine.notifications.mailer import build_message, send_plain
from engine.notifications.text import compose, render_message
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Contact, Enrollment, Notification, User
from engine.webhooks import service as webhooks
from engine.webhooks.delivery import Attempt

log = logging.getLogger(__name__)

CHANNELS = ("in_app", "email", "slack")


@dataclass(frozen=True, slots=True)
class Recipient:
    """A colleague to tell."""

    user_id: int
    email: str


@dataclass(slots=True)
class Outgoing:
    """What must leave after the commit: emails to send and leased Slack posts to make."""

    emails: list[int] = field(default_factory=list)
    webhooks: list[Attempt] = field(default_factory=list)

    def extend(self, other: Outgoing) -> None:
        """Add ``other``'s work to this."""
        self.emails += other.emails
        self.webhooks += other.webhooks


@dataclass(frozen=True, slots=True)
class NotificationOut:
    """A notification as the admin UI shows it."""

    id: int
    channel: str
    subject: str | None
    body: str
    status: str
    contact_id: int | None
    enrollment_id: int | None
    handoff_id: int | None
    created_at: datetime
    read_at: datetime | None


def recipients(
    session: Session, to: Mapping[str, str], *, contact_id: int | None
) -> list[Recipient]:
    """Return the active users ``to`` names: ``{user: email}``, ``{role: name}`` or ``{owner_of}``.

    ``owner_of`` names the contact's owner; accounts are not modelled, so ``account`` names
    the contact's owner too.
    """
    query = select(User.id, User.email).where(User.is_active.is_(True)).order_by(User.id)
    if "user" in to:
        query = query.where(User.email == to["user"].strip().lower())
    elif "role" in to:
        query = query.where(User.role == to["role"])
    elif "owner_of" in to:
        if contact_id is None:
            return []
        query = query.where(
            User.id == select(Contact.owner_id).where(Contact.id == contact_id).scalar_subquery()
        )
    else:
        return []
    return [Recipient(user_id, email) for user_id, email in session.execute(query)]


def record_notify(
    session: Session, payload: Mapping[str, Any], *, now: datetime, settings: Settings
) -> Outgoing:
    """Write the notifications of a ``notify`` outbox row (a ``Notify`` action as JSON)."""
    enrollment_id = payload.get("enrollment_id")
    enrollment = session.get(Enrollment, enrollment_id) if enrollment_id is not None else None
    contact = session.get(Contact, enrollment.contact_id) if enrollment is not None else None
    to = {str(k): str(v) for k, v in (payload.get("to") or {}).items()}
    message = payload.get("message")
    text = render_message(message, contact) if message else f"({payload.get('template')})"
    details = {}
    if enrollment is not None:
        details["Journey"] = f"{enrollment.journey_id} / {payload.get('step')}"
    subject, body = compose(
        headline=text, contact=contact, public_url=settings.public_url, details=details
    )
    return notify(
        session,
        to=to,
        channel=str(payload.get("channel") or "email"),
        subject=subject,
        body=body,
        key=str(payload["idempotency_key"]),
        now=now,
        settings=settings,
        contact_id=contact.id if contact is not None else None,
        enrollment_id=enrollment_id,
    )


def notify(
    session: Session,
    *,
    to: Mapping[str, str],
    channel: str,
    subject: str,
    body: str,
    key: str,
    now: datetime,
    settings: Settings,
    contact_id: int | None = None,
    enrollment_id: int | None = None,
    handoff_id: int | None = None,
) -> Outgoing:
    """Write one notification per recipient (one post for ``slack``); return what to send.

    Nobody to tell is recorded too, as a ``failed`` row saying why, so the miss is visible.
    """
    people = recipients(session, to, contact_id=contact_id)
    common = {
        "channel": channel,
        "subject": subject,
        "contact_id": contact_id,
        "enrollment_id": enrollment_id,
        "handoff_id": handoff_id,
        "created_at": now,
    }
    named = ", ".join(f"{k}: {v}" for k, v in to.items())
    if not people:
        _insert(
            session,
            [
                {
                    **common,
                    "idempotency_key": f"{key}:nobody"[:200],
                    "recipient": named[:320],
                    "body": body,
                    "status": "failed",
                    "error": f"no active user for {named}",
                }
            ],
        )
        return Outgoing()
    if channel == "slack":
        return _slack(session, people, common, key=key, body=body, now=now, settings=settings)
    status = "sent" if channel == "in_app" else "pending"
    keys = [f"{key}:{p.user_id}"[:200] for p in people]
    _insert(
        session,
        [
            {
                **common,
                "idempotency_key": k,
                "recipient": p.email,
                "user_id": p.user_id,
                "body": body,
                "status": status,
                "sent_at": now if channel == "in_app" else None,
            }
            for k, p in zip(keys, people, strict=True)
        ],
    )
    if channel != "email":
        return Outgoing()
    unsent = session.scalars(
        select(Notification.id).where(
            Notification.idempotency_key.in_(keys), Notification.status.in_(("pending", "failed"))
        )
    )
    return Outgoing(emails=list(unsent))


def send(
    database: Database,
    outgoing: Outgoing,
    *,
    settings: Settings,
    clock: Callable[[], datetime],
    capture_port: int | None = None,
) -> int:
    """Make the leased Slack posts and send the emails; return how many emails failed.

    ``capture_port`` is where this process's embedded SMTP capture listens, when it runs one
    on a port of its own; mail goes to ``NURTURE_SMTP_URL`` when that is set.
    """
    webhooks.deliver(database, outgoing.webhooks, settings=settings, clock=clock)
    return send_emails(
        database, outgoing.emails, settings=settings, clock=clock, capture_port=capture_port
    )


def send_emails(
    database: Database,
    ids: Sequence[int],
    *,
    settings: Settings,
    clock: Callable[[], datetime],
    capture_port: int | None = None,
) -> int:
    """Send the pending email notifications among ``ids``; return how many failed.

    Each is claimed (``sending``) before the SMTP conversation, so two workers never send
    the same one; a failure is kept on the row (``failed``) for the caller to retry.
    """
    failed = 0
    port = capture_port if capture_port is not None else settings.capture_smtp_port
    domain = _mail_domain(settings.public_url)
    sender = f"Nurture <noreply@{domain}>"
    for notification_id in ids:
        with database.unit_of_work() as session:
            claimed = session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.channel == "email",
                    Notification.status.in_(("pending", "failed")),
                )
                .values(status="sending")
                .returning(Notification.recipient, Notification.subject, Notification.body)
            ).one_or_none()
        if claimed is None:
            continue
        recipient, subject, body = claimed
        message = build_message(
            sender=sender, to=recipient, subject=subject or "Nurture", body=body, domain=domain
        )
        error = None
        try:
            send_plain(effective_smtp_url(settings, port), message)
        except Exception as exc:  # any SMTP or network failure is kept on the row
            error = f"{type(exc).__name__}: {exc}"[:500]
            failed += 1
            log.warning("notification %s to %s not sent: %s", notification_id, recipient, error)
        with database.unit_of_work() as session:
            session.execute(
                update(Notification)
                .where(Notification.id == notification_id)
                .values(
                    status="failed" if error else "sent",
                    error=error,
                    sent_at=None if error else clock(),
                )
            )
    return failed


def list_for_user(
    session: Session,
    user_id: int,
    *,
    limit: int,
    channel: str = "in_app",
    unread: bool = False,
    before: int | None = None,
) -> tuple[list[NotificationOut], int | None]:
    """Return one page of a user's notifications, newest first, and the next page's ``before``."""
    query: Select[Notification] = (
        select(Notification)
        .where(Notification.user_id == user_id, Notification.channel == channel)
        .order_by(Notification.id.desc())
        .limit(limit + 1)
    )
    if unread:
        query = query.where(Notification.read_at.is_(None))
    if before is not None:
        query = query.where(Notification.id < before)
    rows = list(session.scalars(query))
    following = rows[limit - 1].id if len(rows) > limit else None
    return [_out(r) for r in rows[:limit]], following


def mark_read(
    session: Session, notification_id: int, *, user_id: int, now: datetime
) -> NotificationOut:
    """Mark one of the user's notifications read (idempotent); NotFound for anyone else's."""
    row = session.get(Notification, notification_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"no notification {notification_id} for this user")
    if row.read_at is None:
        row.read_at = now
        session.flush()
    return _out(row)


def _slack(
    session: Session,
    people: Iterable[Recipient],
    common: dict[str, Any],
    *,
    key: str,
    body: str,
    now: datetime,
    settings: Settings,
) -> Outgoing:
    names = ", ".join(p.email for p in people)
    text = f"{body.rstrip()}\nFor: {names}\n"
    url = settings.slack_webhook_url
    row = {
        **common,
        "idempotency_key": f"{key}:slack"[:200],
        "recipient": "slack",
        "body": text,
        "status": "queued" if url else "failed",
        "error": None if url else "NURTURE_SLACK_WEBHOOK_URL is not set",
    }
    _insert(session, [row])
    notification = session.scalars(
        select(Notification).where(Notification.idempotency_key == row["idempotency_key"])
    ).one()
    if not url:
        return Outgoing()
    delivery_id = webhooks.queue_delivery(
        session,
        webhook_id=webhooks.notification_webhook_id(notification.id),
        kind="notify",
        url=url,
        headers={"Content-Type": "application/json"},
        body=json.dumps({"text": text}, ensure_ascii=False),
        now=now,
        contact_id=common["contact_id"],
        enrollment_id=common["enrollment_id"],
        handoff_id=common["handoff_id"],
    )
    return Outgoing(webhooks=webhooks.claim(session, now=now, ids=[delivery_id]))


def _mail_domain(public_url: str) -> str:
    """The public URL's host when it is a domain name; ``localhost`` for an IP or bare name."""
    host = urlsplit(public_url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host if "." in host else "localhost"
    return "localhost"


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(
        dialect_insert(session, Notification).on_conflict_do_nothing(
            index_elements=[Notification.idempotency_key]
        ),
        rows,
    )


def _out(row: Notification) -> NotificationOut:
    return NotificationOut(
        id=row.id,
        channel=row.channel,
        subject=row.subject,
        body=row.body,
        status=row.status,
        contact_id=row.contact_id,
        enrollment_id=row.enrollment_id,
        handoff_id=row.handoff_id,
        created_at=row.created_at,
        read_at=row.read_at,
    )
