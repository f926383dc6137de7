"""Store what the web snippet reports: page views, custom events, forms and identifies.

A browser is known by its first-party anonymous id until it identifies (a form with an
email field, or ``nurture('identify', email)``). Identifying links the id to the contact
and moves the id's anonymous history onto the contact's timeline in one UPDATE per table,
so the pages someone read before giving their address count for scoring and segments.
Those events, and every new one of a known contact, are routed like API events.

Identifying is unauthenticated (it runs in a public page), so it never changes a stored
contact: it creates a bare contact for a new address (with the names given) and keeps the
traits on the ``identified`` event, where they are evidence rather than data of record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.contacts.service import ContactRow, dialect_insert, upsert_contacts
from engine.events.service import store_events
from engine.store.models import AnonymousIdentity, Contact, Event, Message, TrackingEvent
from engine.store.models.base import table_of

#: Hit kinds this module stores.
WEB_KINDS = frozenset({"page", "event", "identify", "form"})
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass(slots=True)
class WebReport:
    """What a batch of web hits did."""

    events: int = 0
    identified: int = 0
    merged: int = 0


def store_web_hits(session: Session, hits: Sequence[dict[str, Any]], *, now: datetime) -> WebReport:
    """Store web hits in a few statements; never commits."""
    report = WebReport()
    if not hits:
        return report
    _touch_identities(session, hits, now=now)
    known = _known(session, {h["anonymous_id"] for h in hits})
    merged_ids: list[int] = []
    by_message = _contacts_of_messages(session, {h["uid"] for h in hits if h.get("uid")})
    for hit in sorted((h for h in hits if h.get("email") or h.get("uid")), key=lambda h: h["at"]):
        found = by_message.get(hit["uid"]) if hit.get("uid") else _identify(session, hit, now=now)
        if found is None:
            continue  # the message's contact was erased
        contact_id = found
        anonymous_id = hit["anonymous_id"]
        if known.get(anonymous_id) != contact_id:
            merged_ids += _merge(session, anonymous_id, contact_id, now=now)
            known[anonymous_id] = contact_id
            report.identified += 1
    rows = [_event_row(hit, known.get(hit["anonymous_id"]), now=now) for hit in hits]
    stored = store_events(session, [r for r in rows if r is not None], now=now, route=merged_ids)
    report.events = stored
    report.merged = len(merged_ids)
    return report


def _touch_identities(session: Session, hits: Sequence[dict[str, Any]], *, now: datetime) -> None:
    seen: dict[str, dict[str, Any]] = {}
    for hit in hits:
        at = datetime.fromisoformat(hit["at"])
        row = seen.setdefault(
            hit["anonymous_id"],
            {
                "anonymous_id": hit["anonymous_id"],
                "contact_id": None,
                "site_key": hit.get("site"),
                "first_seen_at": at,
                "last_seen_at": at,
                "identified_at": None,
            },
        )
        row["first_seen_at"] = min(row["first_seen_at"], at)
        row["last_seen_at"] = max(row["last_seen_at"], at)
    insert = dialect_insert(session, AnonymousIdentity)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["anonymous_id"],
            set_={"last_seen_at": insert.excluded.last_seen_at},
        ),
        list(seen.values()),
    )


def _known(session: Session, anonymous_ids: set[str]) -> dict[str, int]:
    return {
        anonymous_id: int(contact_id or 0)
        for anonymous_id, contact_id in session.execute(
            select(AnonymousIdentity.anonymous_id, AnonymousIdentity.contact_id).where(
                AnonymousIdentity.anonymous_id.in_(anonymous_ids),
                AnonymousIdentity.contact_id.is_not(None),
            )
        )
    }


def _contacts_of_messages(session: Session, uids: set[str]) -> dict[str, int]:
    """The contact each message (by uid) was sent to: who arrived from a tracked click."""
    if not uids:
        return {}
    return {
        uid: contact_id
        for uid, contact_id in session.execute(
            select(Message.uid, Message.contact_id).where(
                Message.uid.in_(uids), Message.contact_id.is_not(None)
            )
        )
        if contact_id is not None
    }


def _identify(session: Session, hit: dict[str, Any], *, now: datetime) -> int:
    email = str(hit["email"]).strip().lower()
    found = session.scalar(select(Contact.id).where(Contact.email == email))
    if found is not None:
        return int(found)
    traits = hit.get("traits") or {}
    row = ContactRow(
        email=email,
        first_name=_text(traits.get("first_name")),
        last_name=_text(traits.get("last_name")),
        locale=_text(traits.get("locale")),
    )
    return upsert_contacts(session, [row], now=now, reason="identified on the web site").ids[email]


def _merge(session: Session, anonymous_id: str, contact_id: int, *, now: datetime) -> list[int]:
    """Link the id to the contact and move its anonymous history; return the moved events."""
    identities = table_of(AnonymousIdentity)
    session.execute(
        update(identities)
        .where(identities.c.anonymous_id == anonymous_id)
        .values(contact_id=contact_id, identified_at=now)
    )
    events = table_of(Event)
    moved = session.scalars(
        update(events)
        .where(events.c.anonymous_id == anonymous_id, events.c.contact_id.is_(None))
        .values(contact_id=contact_id)
        .returning(events.c.id)
    ).all()
    tracking = table_of(TrackingEvent)
    session.execute(
        update(tracking)
        .where(tracking.c.anonymous_id == anonymous_id, tracking.c.contact_id.is_(None))
        .values(contact_id=contact_id)
    )
    return [int(i) for i in moved]


def _event_row(
    hit: dict[str, Any], contact_id: int | None, *, now: datetime
) -> dict[str, Any] | None:
    kind = hit["kind"]
    properties: dict[str, Any]
    if kind == "page":
        properties = page_properties(hit.get("url"), hit.get("title"), hit.get("referrer"))
        name = "page_view"
    elif kind == "event":
        properties = dict(hit.get("properties") or {})
        name = str(hit["name"])
    elif kind == "form":
        properties = {
            "form": hit.get("form"),
            "fields": hit.get("fields") or {},
            **page_properties(hit.get("url"), None, None),
        }
        name = "form_submitted"
    elif kind == "identify":
        properties = {"traits": hit.get("traits") or {}}
        if hit.get("uid"):
            properties = {"via": "email click", "message": hit["uid"]}
        name = "identified"
    else:
        return None
    return {
        "contact_id": contact_id,
        "anonymous_id": hit["anonymous_id"],
        "type": name,
        "properties": properties | {"site": hit.get("site")},
        "occurred_at": datetime.fromisoformat(hit["at"]),
        "received_at": now,
        "source": "web",
        "idempotency_key": f"web:{hit['id']}",
    }


def page_properties(url: str | None, title: str | None, referrer: str | None) -> dict[str, Any]:
    """The properties of a page view: URL, path, title, referrer and UTM parameters."""
    properties: dict[str, Any] = {"url": url, "title": title, "referrer": referrer or None}
    if url:
        parts = urlsplit(url)
        properties["path"] = parts.path or "/"
        query = dict(parse_qsl(parts.query))
        properties |= {name: query[name] for name in UTM if name in query}
    return properties


def _text(value: Any) -> str | None:
    return str(value)[:100] if isinstance(value, str) and value.strip() else None
