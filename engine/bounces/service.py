"""Act on bounces and complaints: attribute them to our mail, record them, suppress.

One call handles one inbound message inside the caller's transaction (commit at the
boundary). Attribution tries, in order: the VERP uid of the envelope recipient
(``bounces+UID@``), the Message-ID of the returned message, then the bounced address's
latest message. A hard bounce suppresses the address at once, ``soft_bounce_limit`` soft
bounces within the window suppress it, and a complaint withdraws every consent and
suppresses. Each new bounce lands on the contact's timeline as an event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.bounces.parse import ParsedMail, Verdict, parse_bytes, verp_uid
from engine.contacts.schemas import ConsentIn
from engine.contacts.service import dialect_insert, record_consent
from engine.events.service import store_events
from engine.store.bulk import insert_new_rows
from engine.store.models import Bounce, Contact, InboundMail, Message, Subscription, Suppression
from engine.store.models.base import table_of

#: Verdicts that change anything; auto-replies and delivery reports are only reported.
ACTIONABLE = ("hard", "soft", "complaint")
_COMPLAINT_TEXT = "Marked a message as spam (feedback loop report)."
_DEFAULT_TOPIC = "marketing_email"

_BOUNCE_KINDS = {
    "message_id": "bigint",
    "contact_id": "bigint",
    "recipient": "text",
    "kind": "text",
    "reason": "text",
    "status": "text",
    "diagnostic": "text",
    "remote_mta": "text",
    "feedback_type": "text",
    "raw_sha256": "text",
    "dedupe_key": "text",
    "received_at": "timestamptz",
}


@dataclass(frozen=True)
class SoftLimit:
    """How many soft bounces (``count``) within ``window`` suppress an address."""

    count: int = 3
    window: timedelta = timedelta(days=30)


@dataclass
class Outcome:
    """What one inbound message did."""

    verdicts: list[Verdict]
    recorded: int = 0
    duplicates: int = 0
    unattributed: int = 0
    suppressed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Sent:
    id: int
    uid: str
    contact_id: int | None
    to_address: str | None
    journey_id: str | None
    step_id: str | None
    template: str


def sha256(raw: bytes) -> str:
    """Hex SHA-256 of raw message bytes (CRLF and LF copies hash the same)."""
    return hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def store_inbound(
    session: Session,
    raw: bytes,
    *,
    source: str,
    now: datetime,
    mail_from: str | None = None,
    rcpt_to: Sequence[str] = (),
) -> bool:
    """Keep the raw message before it is parsed; return False if these bytes were stored."""
    statement = (
        dialect_insert(session, InboundMail)
        .values(
            sha256=sha256(raw),
            source=source,
            mail_from=mail_from,
            rcpt_to=",".join(rcpt_to) or None,
            raw=raw,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(table_of(InboundMail).c.id)
    )
    return session.scalar(statement) is not None


def process(
    session: Session,
    raw: bytes,
    *,
    now: datetime,
    envelope_recipients: Sequence[str] = (),
    soft_limit: SoftLimit = SoftLimit(),
) -> Outcome:
    """Parse one inbound message and apply its bounces and complaints; idempotent."""
    parsed = parse_bytes(raw)
    outcome = Outcome(parsed.verdicts)
    verdicts = [v for v in parsed.verdicts if v.kind in ACTIONABLE]
    if not verdicts:
        _mark_processed(session, raw, now)
        return outcome
    raw_hash = sha256(raw)
    attributed = _attribute(session, parsed, verdicts, envelope_recipients)
    contact_ids = _contact_ids(session, [r for r, _ in attributed if r], attributed)
    rows: list[dict[str, Any]] = []
    for (recipient, sent), verdict in zip(attributed, verdicts, strict=True):
        if not recipient:
            outcome.unattributed += 1
            continue
        rows.append(
            {
                "message_id": sent.id if sent else None,
                "contact_id": contact_ids.get(recipient),
                "recipient": recipient,
                "kind": verdict.kind,
                "reason": verdict.reason,
                "status": verdict.status or None,
                "diagnostic": verdict.diagnostic[:2000] or None,
                "remote_mta": verdict.remote_mta[:255] or None,
                "feedback_type": verdict.feedback_type[:32] or None,
                "raw_sha256": raw_hash,
                "dedupe_key": hashlib.sha256(f"{raw_hash}\n{recipient}".encode()).hexdigest(),
                "received_at": now,
            }
        )
    new_keys = insert_new_rows(session, table_of(Bounce), rows, _BOUNCE_KINDS, key="dedupe_key")
    fresh = [row for row in rows if row["dedupe_key"] in new_keys]
    outcome.recorded = len(fresh)
    outcome.duplicates = len(rows) - len(fresh)
    sent_by_id = {s.id: s for _, s in attributed if s is not None}
    _mark_messages(session, fresh, now)
    outcome.suppressed = _suppress(session, fresh, now, soft_limit)
    _withdraw_consent(session, [r for r in fresh if r["kind"] == "complaint"], now)
    _timeline(session, fresh, sent_by_id, now)
    _mark_processed(session, raw, now)
    return outcome


def _mark_processed(session: Session, raw: bytes, now: datetime) -> None:
    session.execute(
        update(InboundMail).where(InboundMail.sha256 == sha256(raw)).values(processed_at=now)
    )


def _attribute(
    session: Session,
    parsed: ParsedMail,
    verdicts: list[Verdict],
    envelope_recipients: Sequence[str],
) -> list[tuple[str, _Sent | None]]:
    """Pair each verdict with its recipient address and the message we sent, if found."""
    uids = [u for u in (verp_uid(r) for r in envelope_recipients) if u] + parsed.verp_uids
    columns = (
        Message.id,
        Message.uid,
        Message.contact_id,
        Message.to_address,
        Message.journey_id,
        Message.step_id,
        Message.template,
    )
    found: _Sent | None = None
    if uids:
        row = session.execute(select(*columns).where(Message.uid.in_(uids)).limit(1)).first()
        found = _Sent(*row) if row else None
    if found is None and parsed.original_message_ids:
        ids = parsed.original_message_ids + [i.strip("<>") for i in parsed.original_message_ids]
        row = session.execute(select(*columns).where(Message.message_id.in_(ids)).limit(1)).first()
        found = _Sent(*row) if row else None
    by_address: dict[str, _Sent] = {}
    wanted = {v.recipient for v in verdicts if v.recipient}
    if found is None and wanted:
        latest = (
            select(*columns)
            .where(func.lower(Message.to_address).in_(wanted))
            .order_by(Message.queued_at.desc())
        )
        for row in session.execute(latest):
            by_address.setdefault(row.to_address.lower(), _Sent(*row))
    paired: list[tuple[str, _Sent | None]] = []
    for verdict in verdicts:
        if found is not None and (
            not verdict.recipient
            or len(verdicts) == 1
            or verdict.recipient == (found.to_address or "").lower()
        ):
            paired.append(((found.to_address or verdict.recipient).lower(), found))
        else:
            paired.append((verdict.recipient, by_address.get(verdict.recipient)))
    return paired


def _contact_ids(
    session: Session, addresses: list[str], attributed: list[tuple[str, _Sent | None]]
) -> dict[str, int]:
    ids = {r: s.contact_id for r, s in attributed if s is not None and s.contact_id is not None}
    missing = {a for a in addresses if a not in ids}
    if missing:
        rows = session.execute(
            select(func.lower(Contact.email), Contact.id).where(
                func.lower(Contact.email).in_(missing)
            )
        )
        ids.update({email: contact_id for email, contact_id in rows})
    return ids


def _mark_messages(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    for kind in ACTIONABLE:
        ids = sorted({r["message_id"] for r in rows if r["kind"] == kind and r["message_id"]})
        if not ids:
            continue
        if kind == "complaint":
            values: dict[str, Any] = {"status": "complained"}
        else:
            values = {"status": "bounced", "bounced_at": now}
        if kind == "hard":  # delivery stats count a 5xx smtp_code as a hard bounce
            values["smtp_code"] = "550"
        session.execute(update(Message).where(Message.id.in_(ids)).values(**values))


def _suppress(
    session: Session, rows: list[dict[str, Any]], now: datetime, limit: SoftLimit
) -> dict[str, str]:
    """Suppress hard-bounced and complaining addresses, and soft ones over the limit."""
    reasons: dict[str, str] = {}
    for row in rows:
        if row["kind"] == "hard":
            reasons[row["recipient"]] = "hard_bounce"
        elif row["kind"] == "complaint":
            reasons[row["recipient"]] = "complaint"
    soft = {r["recipient"] for r in rows if r["kind"] == "soft"} - set(reasons)
    if soft:
        counts = session.execute(
            select(Bounce.recipient, func.count())
            .where(
                Bounce.recipient.in_(soft),
                Bounce.kind == "soft",
                Bounce.received_at > now - limit.window,
            )
            .group_by(Bounce.recipient)
        )
        reasons.update({r: "soft_bounce" for r, n in counts if n >= limit.count})
    detail = {r["recipient"]: f"{r['reason']} {r['status'] or ''}".strip() for r in rows}
    if reasons:
        session.execute(
            dialect_insert(session, Suppression).on_conflict_do_nothing(),
            [
                {
                    "email": email,
                    "scope": "*",
                    "reason": reason,
                    "source": "bounce",
                    "detail": detail[email][:200],
                    "created_at": now,
                    "expires_at": None,
                }
                for email, reason in sorted(reasons.items())
            ],
        )
    return reasons


def _withdraw_consent(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    """A complaint withdraws consent to every topic, kept as proof like an unsubscribe."""
    contact_ids = sorted({r["contact_id"] for r in rows if r["contact_id"]})
    if not contact_ids:
        return
    topics: dict[int, set[str]] = {c: set() for c in contact_ids}
    for contact_id, topic in session.execute(
        select(Subscription.contact_id, Subscription.topic).where(
            Subscription.contact_id.in_(contact_ids), Subscription.subscribed.is_(True)
        )
    ):
        topics[contact_id].add(topic)
    consent = [
        (
            contact_id,
            ConsentIn(
                topic=topic,
                granted=False,
                source="complaint",
                text=_COMPLAINT_TEXT,
                occurred_at=now,
            ),
        )
        for contact_id in contact_ids
        for topic in sorted(topics[contact_id] or {_DEFAULT_TOPIC})
    ]
    record_consent(session, consent, now=now)  # also tells running journeys


def _timeline(
    session: Session, rows: list[dict[str, Any]], sent: dict[int, _Sent], now: datetime
) -> None:
    events = []
    for row in rows:
        if not row["contact_id"]:
            continue
        message = sent.get(row["message_id"]) if row["message_id"] else None
        properties: dict[str, Any] = {
            "bounce": row["kind"],
            "reason": row["reason"],
            "status": row["status"],
        }
        if message is not None:
            properties |= {
                "message": message.uid,
                "journey": message.journey_id,
                "step": message.step_id,
                "template": message.template,
            }
        events.append(
            {
                "contact_id": row["contact_id"],
                "anonymous_id": None,
                "type": "email_complained" if row["kind"] == "complaint" else "email_bounced",
                "properties": properties,
                "occurred_at": now,
                "received_at": now,
                "source": "bounces",
                "idempotency_key": f"bounce:{row['dedupe_key']}",
            }
        )
    if events:
        store_events(session, events, now=now)


def receive(
    session: Session,
    raw: bytes,
    *,
    source: str,
    now: datetime,
    mail_from: str | None = None,
    rcpt_to: Sequence[str] = (),
    soft_limit: SoftLimit = SoftLimit(),
) -> Outcome:
    """Store an inbound message raw, then process it (both in the caller's transaction)."""
    store_inbound(session, raw, source=source, now=now, mail_from=mail_from, rcpt_to=rcpt_to)
    return process(session, raw, now=now, envelope_recipients=rcpt_to, soft_limit=soft_limit)


def soft_limit_of(count: int, days: int) -> SoftLimit:
    """The soft-bounce rule from settings (``soft_bounce_limit``, ``soft_bounce_window_days``)."""
    return SoftLimit(count, timedelta(days=days))
