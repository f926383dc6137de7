"""Build what the planner sees: ``ContactView``s for a batch of contacts, in a few queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from engine.journey import ContactView, EmailRecord, EventRecord
from engine.journey.conditions import EmailActivity
from engine.journey.frozen import evolve
from engine.journey.needs import EVERYTHING, ViewNeeds
from engine.journey.send_rules import RecentSend
from engine.segments import CONTACT_FIELDS
from engine.store.bulk import among
from engine.store.models import (
    ConsentRecord,
    Contact,
    ContactList,
    ContactTag,
    Event,
    ListMember,
    Message,
    RfmScore,
    SegmentMembership,
    Subscription,
    TrackingEvent,
)
from engine.store.models.base import table_of

#: How far back conditions may look at events (``within`` windows, ``since: entry``).
EVENT_HORIZON = timedelta(days=400)
#: Message states in which nothing reached the recipient's server.
NOT_SENT = frozenset({"suppressed", "failed", "skipped"})


def contact_document(contact: Contact | Row[Any]) -> dict[str, Any]:
    """The contact as one document: stored attributes with the row's fields on top.

    The fields are those the segment SQL reads as columns, so a condition gives the same
    answer in a journey as in a segment count.
    """
    return {**contact.attributes, **{f: getattr(contact, f) for f in CONTACT_FIELDS}}


#: The fields ``select_documents`` reads after ``id`` and ``attributes``, in its order.
_SELECTED_FIELDS = tuple(f for f in CONTACT_FIELDS if f != "id")


def select_documents() -> Select[Any]:
    """Select what ``contact_document`` reads, as Core columns: rows, not ORM objects, and
    none of the ORM's per-row loading (a worker reads a contact for every enrollment)."""
    table = table_of(Contact)
    return select(table.c.id, table.c.attributes, *(table.c[f] for f in _SELECTED_FIELDS))


def _selected_document(row: Sequence[Any]) -> dict[str, Any]:
    """``contact_document`` of a ``select_documents`` row, read by position (a worker's
    batch builds one per enrollment, and a lookup by name per field cost a tenth of it)."""
    return {**row[1], **dict(zip(_SELECTED_FIELDS, row[2:], strict=True))}


def load_views(
    session: Session,
    contact_ids: Iterable[int],
    *,
    now: datetime,
    needs: ViewNeeds = EVERYTHING,
) -> dict[int, ContactView]:
    """Return a view per contact: its row, and the parts of its data that ``needs`` asks for.

    Tags, segment memberships, subscriptions and recent events are one query each, made
    only when needed; withdrawn consent comes with ``needs.emails``. Sends, opens and
    clicks are per enrollment (``load_email_activity`` + ``with_emails``).
    """
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    contacts = {
        c.id: c
        for c in session.execute(
            select_documents().where(among(session, table_of(Contact).c.id, ids))
        )
    }
    tags = (
        _grouped(
            session,
            select(ContactTag.contact_id, ContactTag.tag).where(
                among(session, ContactTag.contact_id, ids)
            ),
        )
        if needs.tags
        else {}
    )
    segments = (
        _grouped(
            session,
            select(SegmentMembership.contact_id, SegmentMembership.segment_id).where(
                among(session, SegmentMembership.contact_id, ids)
            ),
        )
        if needs.segments
        else {}
    )
    subscribed = (
        _grouped(
            session,
            select(Subscription.contact_id, Subscription.topic).where(
                among(session, Subscription.contact_id, ids), Subscription.subscribed.is_(True)
            ),
        )
        if needs.subscriptions
        else {}
    )
    events: dict[int, list[EventRecord]] = defaultdict(list)
    if needs.events:
        for contact_id, name, occurred_at, properties in session.execute(
            select(Event.contact_id, Event.type, Event.occurred_at, Event.properties)
            .where(among(session, Event.contact_id, ids), Event.occurred_at >= now - EVENT_HORIZON)
            .order_by(Event.contact_id, Event.occurred_at, Event.id)
        ):
            events[contact_id].append(EventRecord(name, occurred_at, properties))
    # Withdrawn consent is what ``{email: unsubscribed}`` means, whichever mail it came from.
    unsubscribes: dict[int, list[EmailRecord]] = defaultdict(list)
    if needs.emails:
        for contact_id, occurred_at in session.execute(
            select(ConsentRecord.contact_id, ConsentRecord.occurred_at).where(
                among(session, ConsentRecord.contact_id, ids), ConsentRecord.granted.is_(False)
            )
        ):
            unsubscribes[contact_id].append(EmailRecord("unsubscribed", occurred_at))
    rfm: dict[int, str] = {}
    if needs.rfm:
        for contact_id, rfm_class in session.execute(
            select(RfmScore.contact_id, RfmScore.rfm_class).where(
                among(session, RfmScore.contact_id, ids)
            )
        ):
            rfm[contact_id] = rfm_class
    lists = (
        _grouped(
            session,
            select(ListMember.contact_id, ContactList.key)
            .join(ContactList, ContactList.id == ListMember.list_id)
            .where(among(session, ListMember.contact_id, ids)),
        )
        if needs.lists
        else {}
    )
    empty: frozenset[str] = frozenset()
    return {
        contact_id: ContactView(
            attributes=_selected_document(contact),
            tags=tags.get(contact_id, empty),
            segments=segments.get(contact_id, empty),
            subscriptions=subscribed.get(contact_id, empty),
            scores={"default": float(contact.score)},
            events=tuple(events[contact_id]) if contact_id in events else (),
            emails=tuple(unsubscribes[contact_id]) if contact_id in unsubscribes else (),
            rfm=rfm.get(contact_id),
            lists=lists.get(contact_id, empty),
        )
        for contact_id, contact in contacts.items()
    }


def _grouped(session: Session, query: Select[int, str]) -> dict[int, frozenset[str]]:
    """Run a ``(contact_id, name)`` query and group the names by contact."""
    found: dict[int, set[str]] = defaultdict(set)
    for contact_id, name in session.execute(query):
        found[contact_id].add(name)
    return {contact_id: frozenset(names) for contact_id, names in found.items()}


def load_email_activity(
    session: Session, enrollment_ids: Iterable[int]
) -> dict[int, list[EmailRecord]]:
    """Return each enrollment's email activity: sends, bounces, opens and clicks by step."""
    ids = sorted(set(enrollment_ids))
    activity: dict[int, list[EmailRecord]] = defaultdict(list)
    if not ids:
        return activity
    for enrollment_id, step, template, status, queued_at, sent_at, bounced_at in session.execute(
        select(
            Message.enrollment_id,
            Message.step_id,
            Message.template,
            Message.status,
            Message.queued_at,
            Message.sent_at,
            Message.bounced_at,
        ).where(among(session, Message.enrollment_id, ids))
    ):
        if enrollment_id is None:
            continue
        # A queued message counts as sent: the planner decided it, the mailer only delivers it.
        if status not in NOT_SENT:
            at = sent_at or queued_at
            activity[enrollment_id].append(EmailRecord("sent", at, step, template))
        if bounced_at is not None:
            activity[enrollment_id].append(EmailRecord("bounced", bounced_at, step, template))
    for enrollment_id, step, template, kind, at, classification in session.execute(
        select(
            Message.enrollment_id,
            Message.step_id,
            Message.template,
            TrackingEvent.kind,
            TrackingEvent.occurred_at,
            TrackingEvent.classification,
        )
        .join(TrackingEvent, TrackingEvent.message_id == Message.id)
        .where(
            among(session, Message.enrollment_id, ids), TrackingEvent.kind.in_(("open", "click"))
        )
    ):
        if enrollment_id is None:
            continue
        name: EmailActivity = "opened" if kind == "open" else "clicked"
        activity[enrollment_id].append(
            EmailRecord(name, at, step, template, human=classification == "human")
        )
    return activity


def with_emails(view: ContactView, emails: Iterable[EmailRecord]) -> ContactView:
    """The view for one enrollment: its own email activity beside the contact's unsubscribes."""
    records = [*view.emails, *emails]
    if len(records) == len(view.emails) < 2:
        return view  # nothing to add or to put in order
    return evolve(view, emails=tuple(sorted(records, key=lambda r: r.at)))


def load_recent_sends(
    session: Session, contact_ids: Iterable[int], *, now: datetime
) -> dict[int, list[RecentSend]]:
    """Each contact's sends that count towards frequency caps (every journey, last 400 days)."""
    ids = sorted(set(contact_ids))
    sends: dict[int, list[RecentSend]] = defaultdict(list)
    if not ids:
        return sends
    for contact_id, at, journey, topic in session.execute(
        select(Message.contact_id, Message.queued_at, Message.journey_id, Message.topic).where(
            among(session, Message.contact_id, ids),
            Message.queued_at >= now - EVENT_HORIZON,
            Message.status.not_in(NOT_SENT),
        )
    ):
        if contact_id is not None:
            sends[contact_id].append(RecentSend(at, journey, topic))
    return sends
