"""One-click unsubscribe: signed tokens for a message, and withdrawing consent with one.

A token is the message's opaque ``uid`` and an HMAC of it under the installation's
signing key, so a URL carries no address and no sequential id, and cannot be forged or
pointed at another message. Every configured key verifies, the first one signs, so keys
rotate without breaking mail already delivered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.contacts.schemas import ConsentIn
from engine.contacts.service import dialect_insert, record_consent
from engine.errors import NotFound
from engine.store.models import Contact, Message, Subscription, Suppression

#: The topic consent is withdrawn from when a message had no topic and the contact none.
DEFAULT_TOPIC = "marketing_email"
_CONTEXT = b"nurture/unsubscribe/v1:"
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{8,32})\.([A-Za-z0-9_-]{43})$")
_CONSENT_TEXT = "One-click unsubscribe (RFC 8058) from a message's List-Unsubscribe or footer link"


def sign_token(uid: str, keys: Sequence[bytes]) -> str:
    """Return the unsubscribe token of the message with this ``uid`` (signed by the first key)."""
    return f"{uid}.{_mac(keys[0], uid)}"


def read_token(token: str, keys: Sequence[bytes]) -> str:
    """Return the message ``uid`` a token was signed for; raise NotFound if it is not genuine."""
    match = _TOKEN.match(token)
    if match is not None:
        uid, mac = match.groups()
        if any(hmac.compare_digest(_mac(key, uid), mac) for key in keys):
            return uid
    raise NotFound("this unsubscribe link is not valid")


def unsubscribe_url(public_url: str, token: str) -> str:
    """The public one-click URL of a token."""
    return f"{public_url}/u/{token}"


def _mac(key: bytes, uid: str) -> str:
    digest = hmac.new(key, _CONTEXT + uid.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True, slots=True)
class UnsubscribeTarget:
    """What a token unsubscribes: the message's topic (None = all mail), and for whom."""

    uid: str
    contact_id: int | None
    email: str | None
    topic: str | None
    locale: str | None
    already: bool


def find_target(session: Session, uid: str, *, now: datetime) -> UnsubscribeTarget:
    """Look up what the message with ``uid`` would unsubscribe; raise NotFound if none."""
    row = session.execute(
        select(Message.topic, Message.contact_id, Contact.email, Contact.locale)
        .outerjoin(Contact, Contact.id == Message.contact_id)
        .where(Message.uid == uid)
    ).one_or_none()
    if row is None:
        raise NotFound("this unsubscribe link is not valid")
    topic, contact_id, email, locale = row
    scope = topic or "*"
    already = (
        email is None
        or session.scalar(
            select(Suppression.id).where(
                Suppression.email == email,
                Suppression.scope.in_({scope, "*"}),
                (Suppression.expires_at.is_(None)) | (Suppression.expires_at > now),
            )
        )
        is not None
    )
    return UnsubscribeTarget(uid, contact_id, email, topic, locale, already)


def unsubscribe(
    session: Session, uid: str, *, now: datetime, ip: str | None = None
) -> UnsubscribeTarget:
    """Withdraw the consent a message was sent under, at once; a second call changes nothing.

    The message's topic is unsubscribed (all mail when it has none: every topic the contact
    is subscribed to); the withdrawal is kept as consent proof, the address is suppressed
    for that scope, and running journeys re-check the contact. Raises NotFound for an
    unknown ``uid``.
    """
    target = find_target(session, uid, now=now)
    if target.already or target.contact_id is None or target.email is None:
        return target
    topics = [target.topic] if target.topic else _subscribed_topics(session, target.contact_id)
    consent = [
        (
            target.contact_id,
            ConsentIn(
                topic=topic,
                granted=False,
                source="list-unsubscribe",
                text=_CONSENT_TEXT,
                ip=ip,
                occurred_at=now,
            ),
        )
        for topic in topics
    ]
    record_consent(session, consent, now=now)  # also raises contacts.changed
    session.execute(
        dialect_insert(session, Suppression).on_conflict_do_nothing(),
        [
            {
                "email": target.email,
                "scope": target.topic or "*",
                "reason": "unsubscribe",
                "source": "list-unsubscribe",
                "detail": f"message {uid}",
                "created_at": now,
                "expires_at": None,
            }
        ],
    )
    return target


def _subscribed_topics(session: Session, contact_id: int) -> list[str]:
    topics = session.scalars(
        select(Subscription.topic).where(
            Subscription.contact_id == contact_id, Subscription.subscribed.is_(True)
        )
    ).all()
    return sorted(set(topics)) or [DEFAULT_TOPIC]
