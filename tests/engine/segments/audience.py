"""Test audiences: contacts with everything a condition can look at, stored and viewed.

``store`` writes them to the database; ``view`` builds the ``ContactView`` the Python
predicate sees for the same rows, following the mapping documented in
``engine.segments.sql``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from engine.journey.contact_view import ContactView, EmailRecord, EventRecord
from engine.segments import CONTACT_FIELDS
from engine.store.models import (
    Contact,
    ContactList,
    ContactTag,
    Event,
    ListMember,
    Message,
    RfmScore,
    ScoreChange,
    SegmentMembership,
    Subscription,
    TrackingEvent,
)

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
ACTIVITY = {"open": "opened", "click": "clicked", "unsubscribe": "unsubscribed"}


@dataclass
class Track:
    kind: str
    classification: str
    at: datetime


@dataclass
class Mail:
    step: str | None
    template: str
    sent_at: datetime | None
    bounced_at: datetime | None = None
    tracks: list[Track] = field(default_factory=list)


@dataclass
class Person:
    attributes: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Any] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    subscriptions: dict[str, bool] = field(default_factory=dict)
    segments: set[str] = field(default_factory=set)
    events: list[tuple[str, dict[str, Any], datetime]] = field(default_factory=list)
    mails: list[Mail] = field(default_factory=list)
    score_changes: list[tuple[str, int, datetime]] = field(default_factory=list)
    rfm: str | None = None
    lists: set[str] = field(default_factory=set)


def clear(session: Session) -> None:
    """Delete every row the audience touches, children first."""
    for model in (
        ListMember,
        ContactList,
        RfmScore,
        TrackingEvent,
        Message,
        ScoreChange,
        Event,
        SegmentMembership,
        ContactTag,
        Subscription,
        Contact,
    ):
        session.execute(delete(model))


def store(session: Session, people: list[Person]) -> list[int]:
    """Insert ``people`` and return their contact ids, in order."""
    ids: list[int] = []
    for n, person in enumerate(people, start=1):
        row = {
            "email": f"c{n}@example.com",
            "attributes": person.attributes,
            "lifecycle_stage": "subscriber",
            "score": 0,
            "created_at": NOW,
            "updated_at": NOW,
            **person.columns,
        }
        contact_id = session.execute(
            insert(Contact).values(**row).returning(Contact.id)
        ).scalar_one()
        ids.append(contact_id)
        for tag in person.tags:
            session.execute(insert(ContactTag).values(contact_id=contact_id, tag=tag, added_at=NOW))
        for topic, subscribed in person.subscriptions.items():
            session.execute(
                insert(Subscription).values(
                    contact_id=contact_id,
                    topic=topic,
                    subscribed=subscribed,
                    changed_at=NOW,
                    source="test",
                )
            )
        for key in sorted(person.lists):
            list_id = session.scalar(select(ContactList.id).where(ContactList.key == key))
            if list_id is None:
                list_id = session.execute(
                    insert(ContactList)
                    .values(key=key, name=key, created_at=NOW)
                    .returning(ContactList.id)
                ).scalar_one()
            session.execute(
                insert(ListMember).values(
                    list_id=list_id, contact_id=contact_id, added_at=NOW, source="test"
                )
            )
        if person.rfm is not None:
            scores = {"recency_days": 1, "frequency": 1, "monetary": 1000, "r": 3, "f": 3, "m": 3}
            session.execute(
                insert(RfmScore).values(
                    contact_id=contact_id, rfm_class=person.rfm, computed_at=NOW, **scores
                )
            )
        for segment in person.segments:
            session.execute(
                insert(SegmentMembership).values(
                    segment_id=segment, contact_id=contact_id, entered_at=NOW
                )
            )
        for kind, properties, at in person.events:
            session.execute(
                insert(Event).values(
                    contact_id=contact_id,
                    type=kind,
                    properties=properties,
                    occurred_at=at,
                    received_at=at,
                    source="test",
                )
            )
        for model, score_after, at in person.score_changes:
            session.execute(
                insert(ScoreChange).values(
                    contact_id=contact_id,
                    model=model,
                    delta=1,
                    score_after=score_after,
                    reason="test",
                    occurred_at=at,
                )
            )
        for m, mail in enumerate(person.mails):
            key = f"{contact_id}-{m}"
            message_id = session.execute(
                insert(Message)
                .values(
                    uid=key,
                    message_id=f"<{key}@example.com>",
                    idempotency_key=key,
                    contact_id=contact_id,
                    step_id=mail.step,
                    template=mail.template,
                    status="sent" if mail.sent_at else "queued",
                    queued_at=NOW,
                    sent_at=mail.sent_at,
                    bounced_at=mail.bounced_at,
                )
                .returning(Message.id)
            ).scalar_one()
            for track in mail.tracks:
                session.execute(
                    insert(TrackingEvent).values(
                        kind=track.kind,
                        message_id=message_id,
                        contact_id=contact_id,
                        classification=track.classification,
                        occurred_at=track.at,
                    )
                )
    return ids


def view(person: Person) -> ContactView:
    """Return the ``ContactView`` of ``person`` as the SQL compiler reads the same rows."""
    columns = {
        "email": None,
        "lifecycle_stage": "subscriber",
        "score": 0,
        "created_at": NOW,
        "updated_at": NOW,
        **person.columns,
    }
    document = {**person.attributes, **{k: columns.get(k) for k in CONTACT_FIELDS}}
    scores: dict[str, float] = {"default": columns["score"]}
    for model in {m for m, _, _ in person.score_changes} - {"default"}:
        changes = [(at, i, s) for i, (m, s, at) in enumerate(person.score_changes) if m == model]
        scores[model] = max(changes)[2]
    emails: list[EmailRecord] = []
    for mail in person.mails:
        if mail.sent_at is not None:
            emails.append(EmailRecord("sent", mail.sent_at, mail.step, mail.template))
        if mail.bounced_at is not None:
            emails.append(EmailRecord("bounced", mail.bounced_at, mail.step, mail.template))
        for track in mail.tracks:
            activity: Any = ACTIVITY[track.kind]
            human = track.classification == "human"
            emails.append(EmailRecord(activity, track.at, mail.step, mail.template, human))
    return ContactView(
        attributes=document,
        tags=frozenset(person.tags),
        segments=frozenset(person.segments),
        subscriptions=frozenset(t for t, on in person.subscriptions.items() if on),
        scores=scores,
        events=tuple(EventRecord(kind, at, props) for kind, props, at in person.events),
        emails=tuple(emails),
        rfm=person.rfm,
        lists=frozenset(person.lists),
    )
