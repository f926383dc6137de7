"""Contact operations as set work: bulk upsert, lookup, patch, erase, list, consent, tags.

Functions take a session and never commit: the caller owns the unit of work.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.contacts.fields import display_name
from engine.contacts.schemas import ConsentIn, ContactOut, ContactPage, ContactPatch
from engine.errors import Conflict, FieldProblem, InvalidInput, NotFound
from engine.runtime import outbox
from engine.runtime.topics import CONTACTS_CHANGED
from engine.store.bulk import insert_rows
from engine.store.models import (
    ConsentRecord,
    Contact,
    ContactTag,
    Enrollment,
    Erasure,
    Message,
    StageChange,
    StepRun,
    Subscription,
    Suppression,
    User,
)
from engine.store.models.base import table_of
from engine.store.types import Json, merge_patch

UPSERT_COLUMNS = ("first_name", "last_name", "timezone", "locale", "lifecycle_stage", "owner_id")


@dataclass(slots=True)
class ContactRow:
    """One contact to upsert; ``None`` means "keep what is stored"."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    timezone: str | None = None
    locale: str | None = None
    lifecycle_stage: str | None = None
    owner_id: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class UpsertResult:
    """Ids of the upserted contacts by email, and which emails were new."""

    ids: dict[str, int]
    created: set[str]


def dialect_insert(session: Session, model: Any) -> Any:
    """Return the dialect's INSERT (which knows ON CONFLICT) on the model's table.

    The Core table, not the ORM entity: SQLAlchemy's ORM bulk path costs about three times
    as much per row, and these statements never need identity-map objects back.
    """
    table = table_of(model) if isinstance(model, type) else model
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)


def upsert_contacts(
    session: Session, rows: Sequence[ContactRow], *, now: datetime, reason: str
) -> UpsertResult:
    """Insert new contacts and update existing ones by email, in one statement per batch.

    Rows with the same email are folded, later values winning. Attributes are merged into
    what is stored; a lifecycle change is recorded in the stage history with ``reason``.
    """
    folded = _fold(rows)
    if not folded:
        return UpsertResult({}, set())
    old_stages = _stages_before(session, folded)
    result = UpsertResult({}, set())
    # A row that names no stage must not reset a stored one, so those rows get a SET clause
    # without lifecycle_stage; new contacts start as subscribers either way.
    for stage_given in (True, False):
        batch = [r for r in folded.values() if bool(r.lifecycle_stage) is stage_given]
        if not batch:
            continue
        updated = [c for c in UPSERT_COLUMNS if stage_given or c != "lifecycle_stage"]
        stmt = dialect_insert(session, Contact)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[Contact.email],
            set_={
                **{c: func.coalesce(getattr(excluded, c), getattr(Contact, c)) for c in updated},
                "attributes": merge_patch(Contact.attributes, excluded.attributes),
                "updated_at": excluded.updated_at,
            },
        ).returning(Contact.id, Contact.email, Contact.created_at)
        params = [
            {
                "email": r.email,
                **{c: getattr(r, c) for c in UPSERT_COLUMNS},
                "lifecycle_stage": r.lifecycle_stage or "subscriber",
                "attributes": r.attributes,
                "score": 0,
                "created_at": now,
                "updated_at": now,
            }
            for r in batch
        ]
        for contact_id, email, created_at in session.execute(stmt, params).all():
            result.ids[email] = contact_id
            if created_at == now:
                result.created.add(email)
    _record_stage_changes(session, folded, old_stages, result, now=now, reason=reason)
    contacts_changed(session, result.ids.values(), now=now)
    return result


def _fold(rows: Iterable[ContactRow]) -> dict[str, ContactRow]:
    folded: dict[str, ContactRow] = {}
    for row in rows:
        seen = folded.get(row.email)
        if seen is None:
            folded[row.email] = ContactRow(**{k: getattr(row, k) for k in row.__slots__})
            continue
        for column in UPSERT_COLUMNS:
            if getattr(row, column) is not None:
                setattr(seen, column, getattr(row, column))
        seen.attributes = {**seen.attributes, **row.attributes}
    for row in folded.values():
        row.attributes = _strip_nulls(row.attributes)
    return folded


def _strip_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _strip_nulls(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None
    }


def _stages_before(session: Session, folded: dict[str, ContactRow]) -> dict[str, str]:
    emails = [e for e, r in folded.items() if r.lifecycle_stage]
    if not emails:
        return {}
    found = session.execute(
        select(Contact.email, Contact.lifecycle_stage).where(Contact.email.in_(emails))
    )
    return {email: stage for email, stage in found}


def _record_stage_changes(
    session: Session,
    folded: dict[str, ContactRow],
    old: dict[str, str],
    result: UpsertResult,
    *,
    now: datetime,
    reason: str,
) -> None:
    changes = [
        {
            "contact_id": result.ids[email],
            "from_stage": old.get(email),
            "to_stage": row.lifecycle_stage,
            "reason": reason,
            "occurred_at": now,
        }
        for email, row in folded.items()
        if row.lifecycle_stage and old.get(email) != row.lifecycle_stage
    ]
    if changes:
        session.execute(insert(table_of(StageChange)), changes)


def contacts_changed(session: Session, contact_ids: Iterable[int], *, now: datetime) -> None:
    """Let running journeys re-check these contacts once the transaction commits."""
    ids = sorted(set(contact_ids))
    if ids:
        outbox.enqueue(session, CONTACTS_CHANGED, {"contact_ids": ids}, now=now)


def owner_ids(session: Session, emails: Iterable[str | None]) -> dict[str, int]:
    """Map owner emails to user ids; raise InvalidInput naming every unknown owner."""
    wanted = {e for e in emails if e}
    if not wanted:
        return {}
    found = dict(session.execute(select(User.email, User.id).where(User.email.in_(wanted))).all())
    missing = sorted(wanted - found.keys())
    if missing:
        raise InvalidInput(
            "unknown owner",
            problems=[FieldProblem("owner", f"no user with email {m!r}") for m in missing],
        )
    return found


def add_tags(
    session: Session,
    contact_ids_tags: Iterable[tuple[int, str]],
    *,
    now: datetime,
    announce: bool = True,
) -> None:
    """Tag contacts; a tag a contact already has is left as it is.

    ``announce=False`` leaves the ``contacts.changed`` row to a caller that writes one for
    all its changes at once.
    """
    pairs = set(contact_ids_tags)
    if pairs:
        insert_rows(
            session,
            table_of(ContactTag),
            [{"contact_id": c, "tag": t, "added_at": now} for c, t in sorted(pairs)],
            {"contact_id": "bigint", "tag": "text", "added_at": "timestamptz"},
            ignore_conflicts=True,
        )
        if announce:
            contacts_changed(session, {c for c, _ in pairs}, now=now)


def remove_tags(
    session: Session,
    contact_id: int,
    tags: Iterable[str],
    *,
    now: datetime,
    announce: bool = True,
) -> None:
    """Remove tags from one contact (``announce`` as in ``add_tags``)."""
    names = set(tags)
    if names:
        session.execute(
            delete(ContactTag).where(ContactTag.contact_id == contact_id, ContactTag.tag.in_(names))
        )
        if announce:
            contacts_changed(session, [contact_id], now=now)


def record_consent(
    session: Session, contact_ids_consents: Iterable[tuple[int, ConsentIn]], *, now: datetime
) -> None:
    """Append consent proof to the history and set each topic's current state."""
    records: list[dict[str, Any]] = [
        {
            "contact_id": contact_id,
            "topic": c.topic,
            "granted": c.granted,
            "source": c.source,
            "text": c.text,
            "ip": c.ip,
            "occurred_at": c.occurred_at or now,
        }
        for contact_id, c in contact_ids_consents
    ]
    if not records:
        return
    session.execute(insert(table_of(ConsentRecord)), records)
    contacts_changed(session, {r["contact_id"] for r in records}, now=now)
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: r["occurred_at"]):
        latest[(r["contact_id"], r["topic"])] = r
    stmt = dialect_insert(session, Subscription)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Subscription.contact_id, Subscription.topic],
        set_={
            "subscribed": stmt.excluded.subscribed,
            "changed_at": stmt.excluded.changed_at,
            "source": stmt.excluded.source,
        },
        where=Subscription.changed_at <= stmt.excluded.changed_at,  # an older proof never wins
    )
    session.execute(
        stmt,
        [
            {
                "contact_id": r["contact_id"],
                "topic": r["topic"],
                "subscribed": r["granted"],
                "changed_at": r["occurred_at"],
                "source": r["source"],
            }
            for r in latest.values()
        ],
    )


def get_contact(session: Session, email: str, *, owner_id: int | None = None) -> Contact:
    """Return the contact with this (normalised) email; raise NotFound if there is none.

    ``owner_id`` restricts the lookup to one salesperson's leads.
    """
    query = select(Contact).where(Contact.email == email)
    if owner_id is not None:
        query = query.where(Contact.owner_id == owner_id)
    contact = session.scalars(query).one_or_none()
    if contact is None:
        raise NotFound(f"no contact with email {email!r}")
    return contact


def patch_contact(
    session: Session, contact: Contact, patch: ContactPatch, *, now: datetime
) -> None:
    """Apply a partial update: null clears a field, ``attributes`` is an RFC 7396 merge patch."""
    given = patch.model_fields_set
    if "email" in given:
        if patch.email is None:
            raise InvalidInput(
                "email cannot be cleared", problems=[FieldProblem("email", "is required")]
            )
        if patch.email != contact.email:
            taken = session.scalar(select(Contact.id).where(Contact.email == patch.email))
            if taken is not None:
                raise Conflict(
                    f"another contact already has email {patch.email!r}",
                    problems=[FieldProblem("email", "already in use")],
                )
            contact.email = patch.email
    for name in ("first_name", "last_name", "timezone", "locale"):
        if name in given:
            setattr(contact, name, getattr(patch, name))
    if "owner" in given:
        contact.owner_id = owner_ids(session, [patch.owner])[patch.owner] if patch.owner else None
    if "lifecycle_stage" in given:
        if patch.lifecycle_stage is None:
            raise InvalidInput(
                "lifecycle_stage cannot be cleared",
                problems=[FieldProblem("lifecycle_stage", "choose a stage")],
            )
        if patch.lifecycle_stage != contact.lifecycle_stage:
            session.add(
                StageChange(
                    contact_id=contact.id,
                    from_stage=contact.lifecycle_stage,
                    to_stage=patch.lifecycle_stage,
                    reason="updated through the API",
                    occurred_at=now,
                )
            )
            contact.lifecycle_stage = patch.lifecycle_stage
    if "attributes" in given and patch.attributes is not None:
        session.flush()
        session.execute(
            update(Contact)
            .where(Contact.id == contact.id)
            .values(attributes=merge_patch(Contact.attributes, literal(patch.attributes, Json)))
        )
        session.refresh(contact, ["attributes"])
    elif "attributes" in given:
        contact.attributes = {}
    contact.updated_at = now
    contacts_changed(session, [contact.id], now=now)


def erase_contact(session: Session, contact: Contact, *, now: datetime, requested_by: str) -> None:
    """Erase a contact's personal data (GDPR art. 17) and keep only a hash as proof.

    Events, consent, tags, tracking, scores and handoffs go with the contact; sent messages
    stay for delivery statistics with the recipient removed. Suppressions of the address go
    too: after erasure we may not keep it, and the hash is all that is left.
    """
    digest = hashlib.sha256(contact.email.encode()).hexdigest()
    session.execute(
        update(Message)
        .where(Message.contact_id == contact.id)
        .values(contact_id=None, to_address=None, subject=None)
    )
    session.execute(delete(Suppression).where(Suppression.email == contact.email))
    # Step runs have no foreign key to cascade along. Lock the enrollments first: a worker
    # stepping one now finishes (and writes its step runs) before they are deleted.
    enrollments = select(Enrollment.id).where(Enrollment.contact_id == contact.id)
    session.execute(enrollments.with_for_update()).all()
    session.execute(delete(StepRun).where(StepRun.enrollment_id.in_(enrollments)))
    session.add(Erasure(email_sha256=digest, erased_at=now, requested_by=requested_by))
    session.delete(contact)


def list_contacts(
    session: Session,
    *,
    limit: int,
    cursor: str | None = None,
    search: str | None = None,
    lifecycle_stage: str | None = None,
    tag: str | None = None,
    owner_id: int | None = None,
    updated_since: datetime | None = None,
    attributes: dict[str, str] | None = None,
) -> tuple[list[Contact], str | None]:
    """Return one page of contacts in id order, and the cursor of the next page (keyset)."""
    query: Select[Contact] = select(Contact).order_by(Contact.id).limit(limit + 1)
    if cursor:
        query = query.where(Contact.id > decode_cursor(cursor))
    if search:
        pattern = f"%{_escape_like(search.lower())}%"
        query = query.where(
            Contact.email.like(pattern, escape="\\")
            | func.lower(Contact.first_name).like(pattern, escape="\\")
            | func.lower(Contact.last_name).like(pattern, escape="\\")
        )
    if lifecycle_stage:
        query = query.where(Contact.lifecycle_stage == lifecycle_stage)
    if owner_id is not None:
        query = query.where(Contact.owner_id == owner_id)
    if updated_since:
        query = query.where(Contact.updated_at >= updated_since)
    if tag:
        query = query.where(
            select(ContactTag.contact_id)
            .where(ContactTag.contact_id == Contact.id, ContactTag.tag == tag)
            .exists()
        )
    for path, value in (attributes or {}).items():
        query = query.where(_attribute_text(path) == value)
    contacts = list(session.scalars(query))
    next_cursor = encode_cursor(contacts[limit - 1].id) if len(contacts) > limit else None
    return contacts[:limit], next_cursor


def _attribute_text(path: str) -> ColumnElement[Any]:
    """The attribute at a dotted path, as text, in either dialect's JSON path syntax."""
    text: ColumnElement[Any] = Contact.attributes[tuple(path.split("."))].as_string()
    return text


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(last_id: int, kind: str = "c") -> str:
    """Opaque cursor for keyset pagination by id; ``kind`` tells listings' cursors apart."""
    return base64.urlsafe_b64encode(f"{kind}:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str = "c") -> int:
    """Read a cursor made by ``encode_cursor``; raise InvalidInput naming ``cursor`` if bad."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, _, value = text.partition(":")
        if found != kind:
            raise ValueError(found)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "bad cursor", problems=[FieldProblem("cursor", "not a cursor returned by this API")]
        ) from None


def to_out(session: Session, contacts: Sequence[Contact]) -> list[ContactOut]:
    """Shape contacts for the API, loading tags, subscriptions and owners in three queries."""
    ids = [c.id for c in contacts]
    tags: dict[int, list[str]] = {i: [] for i in ids}
    subs: dict[int, dict[str, bool]] = {i: {} for i in ids}
    if ids:
        for contact_id, tag in session.execute(
            select(ContactTag.contact_id, ContactTag.tag)
            .where(ContactTag.contact_id.in_(ids))
            .order_by(ContactTag.tag)
        ):
            tags[contact_id].append(tag)
        for contact_id, topic, subscribed in session.execute(
            select(Subscription.contact_id, Subscription.topic, Subscription.subscribed).where(
                Subscription.contact_id.in_(ids)
            )
        ):
            subs[contact_id][topic] = subscribed
    owners_wanted = {c.owner_id for c in contacts if c.owner_id}
    owners = (
        dict(session.execute(select(User.id, User.email).where(User.id.in_(owners_wanted))).all())
        if owners_wanted
        else {}
    )
    return [
        ContactOut(
            id=c.id,
            email=c.email,
            first_name=c.first_name,
            last_name=c.last_name,
            display_name=display_name(c.first_name, c.last_name, c.locale),
            timezone=c.timezone,
            locale=c.locale,
            lifecycle_stage=c.lifecycle_stage,
            score=c.score,
            grade=c.grade,
            owner=owners.get(c.owner_id) if c.owner_id else None,
            attributes=c.attributes,
            tags=tags[c.id],
            subscriptions=subs[c.id],
            created_at=c.created_at,
            updated_at=c.updated_at,
            last_seen_at=c.last_seen_at,
        )
        for c in contacts
    ]


def page_out(session: Session, contacts: Sequence[Contact], next_cursor: str | None) -> ContactPage:
    """Shape one page of contacts for the API."""
    return ContactPage(items=to_out(session, contacts), next_cursor=next_cursor)
