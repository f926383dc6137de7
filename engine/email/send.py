"""Send queued messages: check consent at send time, render, compose, hand to SMTP, record.

The batch's first statement claims the queued rows (on PostgreSQL it locks them, on
SQLite it takes the write lock), so a redelivered or duplicated request waits, then finds
them no longer queued and sends nothing: a message is sent at most once per claim, and a
sent message never again. The caller commits the recorded statuses in the unit of work
that marks its outbox row done; a deferred message stays ``queued`` with one more attempt,
and the caller retries it (same Message-ID) after the commit.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.contacts.service import contacts_changed, dialect_insert
from engine.email.compose import MailIdentity, compose
from engine.email.links import Campaign, track
from engine.email.smtp import Mailer, Outcome, Outgoing
from engine.email.templates import (
    EmailTemplate,
    Sender,
    SubjectSource,
    TemplateError,
    TemplateStore,
    contact_fields,
    template_context,
)
from engine.email.unsubscribe import sign_token, unsubscribe_url
from engine.errors import NotFound
from engine.journey.steps import SendEmailStep
from engine.runtime.journeys import CompiledJourneys
from engine.store.bulk import insert_rows, update_by_id
from engine.store.models import Contact, Enrollment, Link, Message, Subscription, Suppression
from engine.store.models.base import table_of

log = logging.getLogger(__name__)

#: Attempts after which a message still refused with 4xx (or unreachable) is given up.
MAX_ATTEMPTS = 10
#: The columns a send outcome writes (``engine.store.bulk`` kinds): tried, and never tried.
_TRIED = {
    "status": "text",
    "subject": "text",
    "attempts": "int",
    "smtp_code": "text",
    "error": "text",
    "sent_at": "timestamptz",
    "bounced_at": "timestamptz",
}
_NOT_TRIED = {"status": "text", "error": "text"}


@dataclass
class SendReport:
    """What a batch did, by message id; ``deferred`` ones are to be tried again."""

    sent: list[int] = field(default_factory=list)
    deferred: dict[int, str] = field(default_factory=dict)
    bounced: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    suppressed: dict[int, str] = field(default_factory=dict)
    soft_bounced: list[int] = field(default_factory=list)
    #: Refused on policy (5.7.x), by message id: the reply; also in ``failed``.
    blocked: dict[int, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """True when no message waits for another attempt."""
        return not self.deferred


@dataclass(frozen=True, slots=True)
class _Queued:
    """A claimed message with what rendering it needs."""

    id: int
    uid: str
    message_id: str
    template: str
    topic: str | None
    subject: str | None
    journey_id: str | None
    step_id: str | None
    broadcast_id: str | None
    variant: str | None
    attempts: int
    enrollment_id: int | None
    contact_id: int | None
    contact: dict[str, Any] | None


def send_messages(
    session: Session,
    message_ids: Sequence[int],
    *,
    now: datetime,
    identity: MailIdentity,
    signing_keys: Sequence[bytes],
    templates: TemplateStore,
    mailer: Mailer,
    journeys: CompiledJourneys | None = None,
) -> SendReport:
    """Send the queued messages among ``message_ids``; return what became of each.

    Never commits. A message whose address is suppressed (for all mail or its topic), or
    whose contact is no longer subscribed to its topic, becomes ``suppressed`` and is not
    sent; a template error makes it ``failed`` with the file and line in ``error``.
    """
    report = SendReport()
    queued = _claim(session, message_ids)
    if not queued:
        return report
    suppressions = _suppressions(session, queued, now=now)
    subscribed = _subscriptions(session, queued)
    entries, senders = _journey_data(session, queued, journeys)
    outgoing: list[tuple[_Queued, Outgoing]] = []
    subjects: dict[int, str] = {}
    links: dict[int, dict[int, str]] = {}
    compiled = _compiled(templates, {m.template for m in queued})
    for message in queued:
        try:
            item, subjects[message.id], links[message.id] = _prepare(
                message,
                now=now,
                identity=identity,
                signing_keys=signing_keys,
                templates=templates,
                compiled=compiled,
                suppressions=suppressions,
                subscribed=subscribed,
                entry=entries.get(message.enrollment_id or 0),
                journey_sender=senders.get(message.id, (None, None)),
            )
        except _NotSent as skipped:
            target = report.suppressed if skipped.status == "suppressed" else report.failed
            target[message.id] = skipped.reason
            continue
        outgoing.append((message, item))
    # The links are stored before the mail leaves: a click can come within a second.
    _store_links(session, {m.id: links[m.id] for m, _ in outgoing})
    outcomes = mailer.deliver([item for _, item in outgoing])
    _record(session, report, outgoing, outcomes, subjects, now=now)
    return report


class _NotSent(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _claim(session: Session, message_ids: Sequence[int]) -> list[_Queued]:
    table = table_of(Message)
    ids = sorted(set(message_ids))
    if not ids:
        return []
    # The rows stay locked until this transaction ends, so no other sender takes them:
    # PostgreSQL locks them as it reads them (FOR UPDATE, no new row versions to write and
    # index); SQLite has no row locks, and a no-op write takes its database write lock.
    locks_rows = session.get_bind().dialect.name == "postgresql"
    if not locks_rows:
        ids = list(
            session.scalars(
                update(table)
                .where(table.c.id.in_(ids), table.c.status == "queued")
                .values(status="queued")
                .returning(table.c.id)
            )
        )
        if not ids:
            return []
    query = (
        select(
            Message.id,
            Message.status,
            Message.uid,
            Message.message_id,
            Message.template,
            Message.topic,
            Message.subject,
            Message.journey_id,
            Message.step_id,
            Message.broadcast_id,
            Message.variant,
            Message.attempts,
            Message.enrollment_id,
            Message.contact_id,
            Contact.email,
            Contact.first_name,
            Contact.last_name,
            Contact.locale,
            Contact.timezone,
            Contact.lifecycle_stage,
            Contact.score,
            Contact.attributes,
        )
        .outerjoin(Contact, Contact.id == Message.contact_id)
        # By id alone, so the plan is the primary key's whatever the statistics say: with
        # status in the WHERE, a planner that believes few messages are queued (just before
        # a broadcast's million rows are analysed) scans every queued row for each batch.
        .where(Message.id.in_(ids))
        .order_by(Message.id)
    )
    if locks_rows:
        query = query.with_for_update(of=table)
    queued: list[_Queued] = []
    for row in session.execute(query):
        if row.status != "queued":  # sent, or taken by another sender, meanwhile
            continue
        contact = None if row.email is None else contact_fields(row)
        queued.append(
            _Queued(
                id=row.id,
                uid=row.uid,
                message_id=row.message_id,
                template=row.template,
                topic=row.topic,
                subject=row.subject,
                journey_id=row.journey_id,
                step_id=row.step_id,
                broadcast_id=row.broadcast_id,
                variant=row.variant,
                attempts=row.attempts,
                enrollment_id=row.enrollment_id,
                contact_id=row.contact_id,
                contact=contact,
            )
        )
    return queued


def _suppressions(
    session: Session, queued: list[_Queued], *, now: datetime
) -> dict[str, dict[str, str]]:
    """Suppressed scopes (``*`` or a topic) and their reasons, by address."""
    emails = {m.contact["email"] for m in queued if m.contact}
    found: dict[str, dict[str, str]] = defaultdict(dict)
    if emails:
        for email, scope, reason in session.execute(
            select(Suppression.email, Suppression.scope, Suppression.reason).where(
                Suppression.email.in_(emails),
                Suppression.expires_at.is_(None) | (Suppression.expires_at > now),
            )
        ):
            found[email][scope] = reason
    return found


def _subscriptions(session: Session, queued: list[_Queued]) -> set[tuple[int, str]]:
    """(contact, topic) pairs currently subscribed."""
    ids = {m.contact_id for m in queued if m.contact_id is not None}
    if not ids:
        return set()
    return {
        (contact_id, topic)
        for contact_id, topic in session.execute(
            select(Subscription.contact_id, Subscription.topic).where(
                Subscription.contact_id.in_(ids), Subscription.subscribed.is_(True)
            )
        )
    }


def _journey_data(
    session: Session, queued: list[_Queued], journeys: CompiledJourneys | None
) -> tuple[dict[int, dict[str, Any]], dict[int, tuple[Sender | None, str | None]]]:
    """Each enrollment's entry (``entry.*`` in templates), and each message's journey sender."""
    ids = {m.enrollment_id for m in queued if m.enrollment_id is not None}
    if not ids:
        return {}, {}
    enrollments = {
        enrollment_id: (journey_id, version, entry)
        for enrollment_id, journey_id, version, entry in session.execute(
            select(
                Enrollment.id, Enrollment.journey_id, Enrollment.version, Enrollment.entry
            ).where(Enrollment.id.in_(ids))
        )
    }
    entries = {i: dict(entry or {}) for i, (_, _, entry) in enrollments.items()}
    senders: dict[int, tuple[Sender | None, str | None]] = {}
    if journeys is None:
        return entries, senders
    for message in queued:
        found = enrollments.get(message.enrollment_id or 0)
        if found is None or message.step_id is None:
            continue
        journey_id, version, _ = found
        try:
            spec = journeys.get(session, journey_id, version).spec
        except NotFound:
            continue
        step = spec.steps.get(message.step_id)
        if not isinstance(step, SendEmailStep):
            continue
        defaults = spec.defaults.send_email if spec.defaults else None
        chosen = step.from_ or (defaults.from_ if defaults else None)
        reply_to = step.reply_to or (defaults.reply_to if defaults else None)
        senders[message.id] = (Sender(chosen.email, chosen.name) if chosen else None, reply_to)
    return entries, senders


def _compiled(
    templates: TemplateStore, names: set[str]
) -> dict[str, EmailTemplate | TemplateError]:
    """The batch's templates, each looked up (and its files checked) once, or its error."""
    found: dict[str, EmailTemplate | TemplateError] = {}
    for name in names:
        try:
            found[name] = templates.get(name)
        except TemplateError as error:
            found[name] = error
    return found


def _prepare(
    message: _Queued,
    *,
    now: datetime,
    identity: MailIdentity,
    signing_keys: Sequence[bytes],
    templates: TemplateStore,
    compiled: dict[str, EmailTemplate | TemplateError],
    suppressions: dict[str, dict[str, str]],
    subscribed: set[tuple[int, str]],
    entry: dict[str, Any] | None,
    journey_sender: tuple[Sender | None, str | None],
) -> tuple[Outgoing, str, dict[int, str]]:
    contact = message.contact
    if contact is None or message.contact_id is None:
        raise _NotSent("failed", "no recipient: the contact was erased")
    template = compiled[message.template]
    if isinstance(template, TemplateError):
        raise _NotSent("failed", template.message)
    topic = message.topic or template.front.topic
    blocked = suppressions.get(contact["email"], {})
    for scope in ("*", topic):
        if scope is not None and scope in blocked:
            raise _NotSent("suppressed", f"{blocked[scope]} (scope {scope})")
    if topic is not None and (message.contact_id, topic) not in subscribed:
        raise _NotSent("suppressed", f"not subscribed to {topic}")
    token = sign_token(message.uid, signing_keys)
    link = unsubscribe_url(identity.public_url, token)
    sender = journey_sender[0] or template.front.sender or identity.sender
    context = template_context(
        contact,
        entry=entry,
        unsubscribe_url=link,
        sender=sender,
        postal_address=identity.postal_address,
        locale=template.front.locale,
    )
    where = (
        f"broadcast {message.broadcast_id}"
        if message.broadcast_id is not None
        else f"journey {message.journey_id} step {message.step_id}"
    )
    subject = SubjectSource(message.subject, where) if message.subject else None
    try:
        rendered = templates.render(template, context, subject=subject)
    except TemplateError as error:
        raise _NotSent("failed", error.message) from None
    campaign = _campaign_of(message)
    links: dict[int, str] = {}
    if identity.tracking:
        tracked = track(
            rendered.html,
            rendered.text,
            uid=message.uid,
            public_url=identity.public_url,
            keys=signing_keys,
            campaign=campaign,
            untracked=[link],
        )
        rendered = replace(rendered, html=tracked.html, text=tracked.text)
        links = tracked.links
    envelope = compose(
        rendered,
        message_id=message.message_id,
        uid=message.uid,
        date=now,
        sender=sender,
        reply_to=journey_sender[1] or template.front.reply_to,
        to=Sender(contact["email"], context["contact"]["name"] or None),
        unsubscribe_url=link,
        unsubscribe_token=token,
        identity=identity,
        topic=topic,
        campaign=f"{campaign.name}.{campaign.content}",
    )
    return (
        Outgoing(envelope.sender, envelope.recipient, envelope.as_bytes()),
        rendered.subject,
        links,
    )


def _campaign_of(message: _Queued) -> Campaign:
    """What the message's links and ``Feedback-ID`` name: its broadcast, journey, or template.

    A broadcast's mail names the broadcast and its A/B variant (the template when there is
    none), so its clicks and complaints are counted against it, never as direct mail.
    """
    if message.broadcast_id is not None:
        return Campaign(message.broadcast_id, message.variant or message.template)
    return Campaign(message.journey_id or "direct", message.step_id or message.template)


def _store_links(session: Session, links: dict[int, dict[int, str]]) -> None:
    """Keep each tracked link's target; a retry renders the same links and adds nothing."""
    rows = [
        {"message_id": message_id, "position": position, "url": url}
        for message_id, targets in links.items()
        for position, url in targets.items()
    ]
    kinds = {"message_id": "bigint", "position": "int", "url": "text"}
    insert_rows(session, table_of(Link), rows, kinds, ignore_conflicts=True)


def _record(
    session: Session,
    report: SendReport,
    outgoing: list[tuple[_Queued, Outgoing]],
    outcomes: list[Outcome],
    subjects: dict[int, str],
    *,
    now: datetime,
) -> None:
    """Write each message's outcome, with the subject as it went out (the timeline shows it)."""
    table = table_of(Message)
    changes: list[dict[str, Any]] = []
    bounces: list[dict[str, Any]] = []
    bounced_contacts: set[int] = set()
    for (message, item), outcome in zip(outgoing, outcomes, strict=True):
        attempts = message.attempts + 1
        change: dict[str, Any] = {
            "id": message.id,
            "status": outcome.verdict,
            "subject": subjects[message.id],
            "attempts": attempts,
            "smtp_code": outcome.smtp_code,
            "error": None if outcome.verdict == "sent" else outcome.reply,
            "sent_at": now if outcome.verdict == "sent" else None,
            "bounced_at": now if outcome.verdict == "bounced" else None,
        }
        if outcome.verdict == "sent":
            report.sent.append(message.id)
        elif outcome.verdict == "deferred":
            if attempts >= MAX_ATTEMPTS:
                gave_up = f"gave up after {attempts} attempts: {outcome.reply}"
                change.update(status="failed", error=gave_up)
                report.failed[message.id] = gave_up
            else:
                change["status"] = "queued"
                report.deferred[message.id] = outcome.reply
        elif outcome.verdict == "held":  # not tried: a rate limit or pause; no attempt spent
            change.update(status="queued", attempts=message.attempts)
            report.deferred[message.id] = outcome.reply
        elif outcome.verdict == "soft_bounced":  # counted by the bounce rules, not suppressed
            report.soft_bounced.append(message.id)
            change["bounced_at"] = now
        elif outcome.verdict == "bounced":
            report.bounced.append(message.id)
            bounces.append(
                {
                    "email": _recipient_email(message, item),
                    "scope": "*",
                    "reason": "hard_bounce",
                    "source": "smtp",
                    "detail": f"{outcome.smtp_code}: {outcome.reply}"[:2000],
                    "created_at": now,
                    "expires_at": None,
                }
            )
            if message.contact_id is not None:
                bounced_contacts.add(message.contact_id)
        else:
            report.failed[message.id] = outcome.reply
            if outcome.verdict == "blocked":  # a policy refusal fails the message: no retry
                change["status"] = "failed"
                report.blocked[message.id] = f"{outcome.smtp_code}: {outcome.reply}"
        changes.append(change)
    recorded = {c["id"] for c in changes}
    for message_id, reason in [*report.suppressed.items(), *report.failed.items()]:
        if message_id not in recorded:
            status = "suppressed" if message_id in report.suppressed else "failed"
            changes.append(
                {
                    "id": message_id,
                    "status": status,
                    "attempts": None,
                    "smtp_code": None,
                    "error": reason,
                    "sent_at": None,
                    "bounced_at": None,
                }
            )
    update_by_id(session, table, [c for c in changes if c["attempts"] is not None], _TRIED)
    update_by_id(session, table, [c for c in changes if c["attempts"] is None], _NOT_TRIED)
    if bounces:
        session.execute(dialect_insert(session, Suppression).on_conflict_do_nothing(), bounces)
        contacts_changed(session, bounced_contacts, now=now)  # journeys see the bounce at once
    for message_id, reason in report.deferred.items():
        log.info("message %s deferred: %s", message_id, reason)


def _recipient_email(message: _Queued, item: Outgoing) -> str:
    return str(message.contact["email"]) if message.contact else item.recipient
