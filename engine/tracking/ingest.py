"""Write buffered opens and clicks in batches: classify, store once, let journeys react.

A batch costs a few statements whatever its size: the messages by uid, the links by
position, the messages' recent clicks (for scanner bursts), one INSERT of every hit
(``dedupe_key`` is the hit's id, so a hit delivered twice after a crash lands once), and
an UPDATE re-classing earlier clicks that a burst showed to be a scanner's. Contacts with
a human open or click are announced as changed, so an ``exit_when`` or goal on
``{email: clicked}`` holds at once and segments re-check.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.contacts.service import contacts_changed, dialect_insert
from engine.store.models import Link, Message, TrackingEvent
from engine.store.models.base import table_of
from engine.tracking.classify import (
    BURST_LINKS,
    BURST_WINDOW,
    Click,
    burst_size,
    classify_clicks,
    classify_open,
)

#: Hit kinds this module writes; the web snippet's kinds are written by ``tracking.web``.
MAIL_KINDS = frozenset({"open", "click"})


@dataclass(slots=True)
class IngestReport:
    """What a batch did."""

    stored: int = 0
    duplicates: int = 0
    unknown: int = 0
    human: int = 0
    reclassified: int = 0
    contacts: set[int] = field(default_factory=set)


def store_mail_hits(session: Session, hits: Sequence[dict[str, Any]]) -> IngestReport:
    """Classify and store open and click hits; never commits.

    A hit names its message by ``uid`` (and a click its link by ``position``); hits for
    messages or links that no longer exist are dropped and counted as ``unknown``.
    """
    report = IngestReport()
    if not hits:
        return report
    messages = {
        row.uid: row
        for row in session.execute(
            select(Message.id, Message.uid, Message.contact_id, Message.sent_at).where(
                Message.uid.in_({h["uid"] for h in hits})
            )
        )
    }
    clicks = [h for h in hits if h["kind"] == "click" and h["uid"] in messages]
    links = _links(session, [(messages[h["uid"]].id, int(h["position"])) for h in clicks])
    earlier = _recent_clicks(session, {messages[h["uid"]].id for h in clicks}, clicks)
    rows: list[dict[str, Any]] = []
    by_message: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for hit in hits:
        message = messages.get(hit["uid"])
        if message is None:
            report.unknown += 1
            continue
        at = datetime.fromisoformat(hit["at"])
        row = {
            "kind": hit["kind"],
            "message_id": message.id,
            "link_id": None,
            "contact_id": message.contact_id,
            "anonymous_id": None,
            "url": None,
            "ip": hit.get("ip"),
            "user_agent": hit.get("ua"),
            "occurred_at": at,
            "dedupe_key": str(hit["id"]),
        }
        if hit["kind"] == "open":
            verdict = classify_open(at, message.sent_at, row["ip"], row["user_agent"])
            row["classification"], row["reason"] = verdict.classification, verdict.reason
            rows.append(row)
            continue
        link = links.get((message.id, int(hit["position"])))
        if link is None:
            report.unknown += 1
            continue
        row["link_id"], row["url"] = link
        row["position"] = int(hit["position"])
        by_message[message.id].append(row)
    reclass: list[int] = []
    delivered = {m.id: m.sent_at for m in messages.values()}
    for message_id, new in by_message.items():
        seen = earlier.get(message_id, [])
        new_clicks = [_click(r) for r in new]
        verdicts = classify_clicks(new_clicks, delivered[message_id], [c for _, c in seen])
        for row, verdict in zip(new, verdicts, strict=True):
            row["classification"], row["reason"] = verdict.classification, verdict.reason
            del row["position"]
            rows.append(row)
        everything = [c for _, c in seen] + new_clicks
        reclass += [
            event_id for event_id, click in seen if burst_size(everything, click.at) >= BURST_LINKS
        ]
    _insert(session, rows, report)
    if reclass:
        table = table_of(TrackingEvent)
        session.execute(
            update(table)
            .where(table.c.id.in_(reclass), table.c.classification == "human")
            .values(classification="scanner", reason=f"{BURST_LINKS}+ links clicked within 2s")
        )
        report.reclassified = len(reclass)
    if report.contacts:
        now = max(datetime.fromisoformat(h["at"]) for h in hits)
        contacts_changed(session, report.contacts, now=now)
    return report


def _insert(session: Session, rows: list[dict[str, Any]], report: IngestReport) -> None:
    if not rows:
        return
    stmt = (
        dialect_insert(session, TrackingEvent)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(TrackingEvent.dedupe_key)
    )
    stored = set(session.scalars(stmt, rows, execution_options={"sort_by_parameter_order": False}))
    report.stored += len(stored)
    report.duplicates += len(rows) - len(stored)
    for row in rows:
        if row["dedupe_key"] in stored and row["classification"] == "human":
            report.human += 1
            if row["contact_id"] is not None:
                report.contacts.add(row["contact_id"])


def _links(
    session: Session, wanted: list[tuple[int, int]]
) -> dict[tuple[int, int], tuple[int, str]]:
    if not wanted:
        return {}
    found = session.execute(
        select(Link.message_id, Link.position, Link.id, Link.url).where(
            Link.message_id.in_({m for m, _ in wanted})
        )
    )
    keys = set(wanted)
    return {(m, p): (i, u) for m, p, i, u in found if (m, p) in keys}


def _recent_clicks(
    session: Session, message_ids: set[int], clicks: list[dict[str, Any]]
) -> dict[int, list[tuple[int, Click]]]:
    """Each message's stored clicks close enough to the new ones to form a burst with them."""
    if not message_ids:
        return {}
    since = min(datetime.fromisoformat(h["at"]) for h in clicks) - BURST_WINDOW
    earlier: dict[int, list[tuple[int, Click]]] = defaultdict(list)
    for event_id, message_id, position, at, ip, ua in session.execute(
        select(
            TrackingEvent.id,
            TrackingEvent.message_id,
            Link.position,
            TrackingEvent.occurred_at,
            TrackingEvent.ip,
            TrackingEvent.user_agent,
        )
        .join(Link, Link.id == TrackingEvent.link_id)
        .where(
            TrackingEvent.message_id.in_(message_ids),
            TrackingEvent.kind == "click",
            TrackingEvent.occurred_at >= since,
        )
    ):
        if message_id is not None:
            earlier[message_id].append((event_id, Click(at, position, ip, ua)))
    return earlier


def _click(row: dict[str, Any]) -> Click:
    return Click(row["occurred_at"], row["position"], row["ip"], row["user_agent"])
