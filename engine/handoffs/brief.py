"""The lead brief a salesperson reads: score with its reasons, grade, and recent touches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import Contact, Event, ScoreChange

#: How many of each list the brief carries: enough to call with, small enough to read.
BRIEF_ITEMS = 10
ENGAGEMENT = ("email_opened", "email_clicked")


def lead_brief(session: Session, contact_id: int, *, public_url: str = "") -> dict[str, Any]:
    """Return JSON-ready facts about a lead, newest first; raises nothing for a bare contact."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return {}
    reasons = session.execute(
        select(ScoreChange.delta, ScoreChange.reason, ScoreChange.rule, ScoreChange.occurred_at)
        .where(ScoreChange.contact_id == contact_id, ScoreChange.model == "default")
        .order_by(ScoreChange.occurred_at.desc(), ScoreChange.id.desc())
        .limit(BRIEF_ITEMS)
    )
    recent = session.execute(
        select(Event.type, Event.properties, Event.occurred_at)
        .where(Event.contact_id == contact_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(BRIEF_ITEMS * 5)
    ).all()
    pages = [
        {"path": p.get("path") or p.get("url"), "title": p.get("title"), "at": at.isoformat()}
        for kind, p, at in recent
        if kind == "page_view"
    ]
    emails = [
        {"type": kind, "template": p.get("template"), "url": p.get("url"), "at": at.isoformat()}
        for kind, p, at in recent
        if kind in ENGAGEMENT
    ]
    return {
        "score": contact.score,
        "grade": contact.grade,
        "lifecycle_stage": contact.lifecycle_stage,
        "score_reasons": [
            {"delta": d, "reason": why, "rule": rule, "at": at.isoformat()}
            for d, why, rule, at in reasons
        ],
        "last_touches": [
            {"type": kind, "at": at.isoformat()} for kind, _, at in recent[:BRIEF_ITEMS]
        ],
        "pages_viewed": pages[:BRIEF_ITEMS],
        "emails_engaged": emails[:BRIEF_ITEMS],
        "timeline": f"{public_url.rstrip('/')}/api/contacts/{contact.email}/timeline",
    }
