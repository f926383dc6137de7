"""The preference center's data: which topics a message's recipient may choose, and saving a choice.

The signed unsubscribe token names one message, and so one contact; it is the only
credential. Saving keeps consent history (one ``consent_records`` row per topic that
changed) and keeps suppressions in step: a topic switched off is suppressed for that
scope, a topic switched back on loses the ``unsubscribe`` suppression (never a bounce's or
a complaint's), and "stop all mail" suppresses ``*``. Sends check both at send time, so a
choice counts from the next message on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.contacts.schemas import ConsentIn
from engine.contacts.service import dialect_insert, record_consent
from engine.email.templates import TemplateError, TemplateStore
from engine.errors import InvalidInput, NotFound
from engine.store.models import Contact, Message, Subscription, Suppression

SOURCE = "preference-center"
_CONSENT_TEXT = "Preference center (the link in a message's footer)"
ALL = "*"


@dataclass(frozen=True, slots=True)
class Preferences:
    """A contact's choices: each offered topic on or off, and whether all mail is stopped."""

    contact_id: int
    locale: str | None
    topics: dict[str, bool]
    stopped: bool


def template_topics(store: TemplateStore) -> list[str]:
    """Every topic a template's front matter names (templates that do not compile are skipped)."""
    found: set[str] = set()
    for name in store.names():
        try:
            topic = store.get(name).front.topic
        except TemplateError:
            continue
        if topic:
            found.add(topic)
    return sorted(found)


def topic_labels(path: Path) -> dict[str, dict[str, str]]:
    """Display names by topic and language from ``topics.yaml`` (``topic: {ja: …, en: …}``).

    A missing file means no labels (topics show as their ids); a malformed one raises
    InvalidInput naming the file.
    """
    if not path.is_file():
        return {}
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    except YAMLError as error:
        raise InvalidInput(f"{path}: {error}") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) and all(isinstance(t, str) for t in v.values()) for v in data.values()
    ):
        raise InvalidInput(f"{path}: write each topic as `topic: {{ja: 名前, en: Name}}`")
    return {str(k): {str(lang): str(t) for lang, t in v.items()} for k, v in data.items()}


def load_preferences(
    session: Session, uid: str, offered: Sequence[str], *, now: datetime
) -> Preferences:
    """The recipient of message ``uid`` and their choices; raise NotFound for an unknown one."""
    row = session.execute(
        select(Contact.id, Contact.email, Contact.locale)
        .join(Message, Message.contact_id == Contact.id)
        .where(Message.uid == uid)
    ).one_or_none()
    if row is None:
        raise NotFound("this link is not valid")
    contact_id, email, locale = row
    subscribed = dict(
        session.execute(
            select(Subscription.topic, Subscription.subscribed).where(
                Subscription.contact_id == contact_id
            )
        ).all()
    )
    blocked = set(
        session.scalars(
            select(Suppression.scope).where(
                Suppression.email == email,
                Suppression.expires_at.is_(None) | (Suppression.expires_at > now),
            )
        )
    )
    topics = sorted(set(offered) | set(subscribed))
    return Preferences(
        contact_id,
        locale,
        {t: bool(subscribed.get(t)) and t not in blocked for t in topics},
        ALL in blocked,
    )


def save_preferences(
    session: Session,
    uid: str,
    offered: Sequence[str],
    *,
    chosen: Collection[str],
    stop_all: bool,
    now: datetime,
    ip: str | None = None,
) -> Preferences:
    """Store the recipient's choice of topics (all off when ``stop_all``); never commits."""
    current = load_preferences(session, uid, offered, now=now)
    email = session.scalar(select(Contact.email).where(Contact.id == current.contact_id))
    assert email is not None
    wanted = {t: (t in chosen and not stop_all) for t in current.topics}
    changed = {t: on for t, on in wanted.items() if on != current.topics[t]}
    record_consent(
        session,
        [
            (
                current.contact_id,
                ConsentIn(
                    topic=topic,
                    granted=on,
                    source=SOURCE,
                    text=_CONSENT_TEXT,
                    ip=ip,
                    occurred_at=now,
                ),
            )
            for topic, on in sorted(changed.items())
        ],
        now=now,
    )
    off = [t for t, on in wanted.items() if not on] + ([ALL] if stop_all else [])
    on = [t for t, on in wanted.items() if on] + ([] if stop_all else [ALL])
    _suppress(session, email, off, uid=uid, now=now)
    session.execute(
        delete(Suppression).where(
            Suppression.email == email,
            Suppression.scope.in_(on),
            Suppression.reason == "unsubscribe",
        )
    )
    return Preferences(current.contact_id, current.locale, wanted, stop_all)


def _suppress(
    session: Session, email: str, scopes: Sequence[str], *, uid: str, now: datetime
) -> None:
    if not scopes:
        return
    existing = set(
        session.scalars(
            select(Suppression.scope).where(
                Suppression.email == email,
                Suppression.scope.in_(scopes),
                Suppression.expires_at.is_(None),
            )
        )
    )
    rows: list[Mapping[str, object]] = [
        {
            "email": email,
            "scope": scope,
            "reason": "unsubscribe",
            "source": SOURCE,
            "detail": f"message {uid}",
            "created_at": now,
            "expires_at": None,
        }
        for scope in scopes
        if scope not in existing
    ]
    if rows:
        session.execute(dialect_insert(session, Suppression).on_conflict_do_nothing(), rows)
