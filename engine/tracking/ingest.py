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

from engine.contacts.service import contacts_changed
from engine.events.service import store_events
from engine.store.bulk import among, insert_new_rows
from engine.store.models import Link, Message, TrackingEvent
from engine.store.models.base import table_of
from engine.tracking.classify import (
    BURST_LINKS,
    BURST_WINDOW,
    Bursts,
    Click,
    classify_clicks,
    classify_open,
)

#: Hit kinds this module writes; the web snippet's kinds are written by ``tracking.web``.
MAIL_KINDS = frozenset({"open", "click"})

#: The columns a hit fills, as ``engine.store.bulk`` names their kinds.
_TRACKING_KINDS = {
    "kind": "text",
    "message_id": "bigint",
    "link_id": "bigint",
    "contact_id": "bigint",
    "anonymous_id": "text",
    "url": "text",
    "ip": "text",
    "user_agent": "text",
    "occurred_at": "timestamptz",
    "dedupe_key": "text",
    "classification": "text",
    "reason": "text",
}


@dataclass(slots=True)
class IngestReport:
    """What a batch did."""

    stored: int = 0
    duplicates: int = 0
    unknown: int = 0
    human: int = 0
    events: int = 0
    reclassified: int = 0
    contacts: set[int] = field(default_factory=set)


def store_mail_hits(
    session: Session, hits: Sequence[dict[str, Any]], *, now: datetime | None = None
) -> IngestReport:
    """Classify and store open and click hits; never commits.

    A hit names its message by ``uid`` (and a click its link by ``position``); hits for
    messages or links that no longer exist are dropped and counted as ``unknown``.
    ``now`` is when the batch is received (default: its latest hit).
    """
    report = IngestReport()
    if not hits:
        return report
    messages = {
        row.uid: row
        for row in session.execute(
            select(
                Message.id,
                Message.uid,
                Message.contact_id,
                Message.sent_at,
                Message.journey_id,
                Message.step_id,
                Message.template,
            ).where(Message.uid.in_({h["uid"] for h in hits}))
        )
    }
    clicks = [h for h in hits if h["kind"] == "click" and h["uid"] in messages]
    links = _links(session, [(messages[h["uid"]].id, int(h["position"])) for h in clicks])
    new_links: dict[int, set[int]] = defaultdict(set)
    for hit in clicks:
        new_links[messages[hit["uid"]].id].add(int(hit["position"]))
    earlier = _recent_clicks(session, new_links, clicks)
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
        if seen:
            bursts = Bursts([c for _, c in seen] + new_clicks)
            reclass += [e for e, click in seen if bursts.size(click.at) >= BURST_LINKS]
    stored = _insert(session, rows, report)
    latest = max(datetime.fromisoformat(h["at"]) for h in hits)
    by_id = {m.id: m for m in messages.values()}
    engaged = [
        _engagement(row, by_id[row["message_id"]], now or latest)
        for row in rows
        if row["dedupe_key"] in stored
        and row["classification"] == "human"
        and row["contact_id"] is not None
    ]
    if engaged:
        report.events = store_events(session, engaged, now=now or latest)
    if reclass:
        table = table_of(TrackingEvent)
        session.execute(
            update(table)
            .where(table.c.id.in_(reclass), table.c.classification == "human")
            .values(classification="scanner", reason=f"{BURST_LINKS}+ links clicked within 2s")
        )
        report.reclassified = len(reclass)
    if report.contacts:
        contacts_changed(session, report.contacts, now=now or latest)
    return report


def _engagement(row: dict[str, Any], message: Any, now: datetime) -> dict[str, Any]:
    """The ``email_opened`` / ``email_clicked`` event row of a stored human hit."""
    properties: dict[str, Any] = {
        "message": message.uid,
        "journey": message.journey_id,
        "step": message.step_id,
        "template": message.template,
    }
    if row["kind"] == "click":
        properties["url"] = row["url"]
    return {
        "contact_id": row["contact_id"],
        "anonymous_id": None,
        "type": "email_opened" if row["kind"] == "open" else "email_clicked",
        "properties": properties,
        "occurred_at": row["occurred_at"],
        "received_at": now,
        "source": "tracking",
        "idempotency_key": f"tracking:{row['dedupe_key']}",
    }


def _insert(session: Session, rows: list[dict[str, Any]], report: IngestReport) -> set[str]:
    """Insert tracking rows once each; return the dedupe keys that were new."""
    stored = insert_new_rows(
        session, table_of(TrackingEvent), rows, _TRACKING_KINDS, key="dedupe_key"
    )
    report.stored += len(stored)
    report.duplicates += len(rows) - len(stored)
    for row in rows:
        if row["dedupe_key"] in stored and row["classification"] == "human":
            report.human += 1
            if row["contact_id"] is not None:
                report.contacts.add(row["contact_id"])
    return stored


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
    session: Session, new_links: dict[int, set[int]], clicks: list[dict[str, Any]]
) -> dict[int, list[tuple[int, Click]]]:
    """Each message's stored clicks close enough to the new ones to form a burst with them.

    ``new_links`` are the positions the new clicks name, by message. Only messages whose
    links, old and new together, are enough for a burst have their clicks read: a flood of
    clicks on one link (a forwarded mail, a replayed URL) costs a look at the distinct links
    clicked, not every click again in each batch.
    """
    if not new_links:
        return {}
    since = min(datetime.fromisoformat(h["at"]) for h in clicks) - BURST_WINDOW
    window = (
        among(session, TrackingEvent.message_id, new_links),
        TrackingEvent.kind == "click",
        TrackingEvent.occurred_at >= since,
    )
    clicked = {m: set(p) for m, p in new_links.items()}
    for message_id, position in session.execute(
        select(TrackingEvent.message_id, Link.position)
        .join(Link, Link.id == TrackingEvent.link_id)
        .where(*window)
        .distinct()
    ):
        if message_id is not None:
            clicked[message_id].add(position)
    wanted = {m for m, positions in clicked.items() if len(positions) >= BURST_LINKS}
    earlier: dict[int, list[tuple[int, Click]]] = defaultdict(list)
    if not wanted:
        return earlier  # no burst is possible: the new clicks' verdicts need no history
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
        .where(*window[1:], among(session, TrackingEvent.message_id, wanted))
    ):
        if message_id is not None:
            earlier[message_id].append((event_id, Click(at, position, ip, ua)))
    return earlier


def _click(row: dict[str, Any]) -> Click:
    return Click(row["occurred_at"], row["position"], row["ip"], row["user_agent"])
