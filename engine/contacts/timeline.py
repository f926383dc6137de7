"""The 360° view: everything that happened to one contact, newest first, in one list.

Each source table is read with the same keyset condition and limit, then the sorted
streams are merged; a page costs one indexed query per source, whatever the history's size.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from engine.errors import FieldProblem, InvalidInput
from engine.store.models import (
    ConsentRecord,
    Enrollment,
    Event,
    Handoff,
    Journey,
    Message,
    ScoreChange,
    StageChange,
    TrackingEvent,
)


class TimelineEntry(BaseModel):
    """One thing that happened, with a one-line summary and its details."""

    at: datetime
    kind: str
    id: int
    summary: str
    data: dict[str, Any]


class TimelinePage(BaseModel):
    """Newest first; pass ``next_cursor`` back as ``before`` for older entries."""

    items: list[TimelineEntry]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class _Source:
    kind: str
    model: Any
    at: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None]
    contact: InstrumentedAttribute[int | None] | InstrumentedAttribute[int]
    entry: Callable[..., tuple[str, dict[str, Any]]]
    #: Rows of the table the timeline leaves out: shown by another source already.
    hidden: ColumnElement[bool] | None = None
    #: A column of another table the entry also reads (passed after the row), and the
    #: condition that outer-joins that table.
    also: tuple[InstrumentedAttribute[Any], ColumnElement[bool]] | None = None


def _event(e: Event) -> tuple[str, dict[str, Any]]:
    return e.type, {"type": e.type, "properties": e.properties, "source": e.source}


def _message(m: Message) -> tuple[str, dict[str, Any]]:
    return f"email {m.status}: {m.subject or m.template}", {
        "template": m.template,
        "subject": m.subject,
        "status": m.status,
        "journey": m.journey_id,
        "step": m.step_id,
        "variant": m.variant,
        "sent_at": m.sent_at.isoformat() if m.sent_at else None,
    }


def _tracking(t: TrackingEvent) -> tuple[str, dict[str, Any]]:
    return f"{t.kind} ({t.classification})", {
        "kind": t.kind,
        "classification": t.classification,
        "reason": t.reason,
        "url": t.url,
        "message_id": t.message_id,
    }


def _score(s: ScoreChange) -> tuple[str, dict[str, Any]]:
    return f"score {s.delta:+d} → {s.score_after}: {s.reason}", {
        "model": s.model,
        "delta": s.delta,
        "score_after": s.score_after,
        "reason": s.reason,
        "rule": s.rule,
    }


def _stage(s: StageChange) -> tuple[str, dict[str, Any]]:
    return f"stage {s.from_stage or '-'} → {s.to_stage}", {
        "from": s.from_stage,
        "to": s.to_stage,
        "reason": s.reason,
    }


def _handoff(h: Handoff) -> tuple[str, dict[str, Any]]:
    return f"handoff to sales ({h.status})", {
        "status": h.status,
        "pool": h.pool,
        "assignee_id": h.assignee_id,
        "reason": h.reason,
    }


def _consent(c: ConsentRecord) -> tuple[str, dict[str, Any]]:
    verb = "granted" if c.granted else "withdrawn"
    return f"consent {verb}: {c.topic}", {
        "topic": c.topic,
        "granted": c.granted,
        "source": c.source,
        "text": c.text,
    }


def _entered(e: Enrollment, name: str | None) -> tuple[str, dict[str, Any]]:
    trigger = (e.entry or {}).get("name")
    return f"entered journey {name or e.journey_id} (v{e.version})", {
        "journey": e.journey_id,
        "journey_name": name,
        "version": e.version,
        "enrollment": e.id,
        "trigger": trigger,
        "key": e.key,
    }


def _exited(e: Enrollment, name: str | None) -> tuple[str, dict[str, Any]]:
    return f"left journey {name or e.journey_id}: {e.exit_reason}", {
        "journey": e.journey_id,
        "journey_name": name,
        "version": e.version,
        "enrollment": e.id,
        "step": e.step,
        "reason": e.exit_reason,
    }


#: The journey's display name, for the entries of its enrollments.
JOURNEY_NAME = (Journey.name, Journey.id == Enrollment.journey_id)

SOURCES = (
    _Source(
        "consent", ConsentRecord, ConsentRecord.occurred_at, ConsentRecord.contact_id, _consent
    ),
    # An open or click is shown once, as the tracking row with its class and reason; the
    # ``email_opened``/``email_clicked`` event it also raised (for journeys) is not repeated.
    _Source(
        "event", Event, Event.occurred_at, Event.contact_id, _event, Event.source == "tracking"
    ),
    _Source("handoff", Handoff, Handoff.created_at, Handoff.contact_id, _handoff),
    _Source(
        "journey_entered",
        Enrollment,
        Enrollment.entered_at,
        Enrollment.contact_id,
        _entered,
        also=JOURNEY_NAME,
    ),
    _Source(
        "journey_exited",
        Enrollment,
        Enrollment.exited_at,
        Enrollment.contact_id,
        _exited,
        Enrollment.exited_at.is_(None),
        also=JOURNEY_NAME,
    ),
    _Source("message", Message, Message.queued_at, Message.contact_id, _message),
    _Source("score", ScoreChange, ScoreChange.occurred_at, ScoreChange.contact_id, _score),
    _Source("stage", StageChange, StageChange.occurred_at, StageChange.contact_id, _stage),
    _Source(
        "tracking", TrackingEvent, TrackingEvent.occurred_at, TrackingEvent.contact_id, _tracking
    ),
)
KINDS = tuple(s.kind for s in SOURCES)


@dataclass(frozen=True, slots=True, order=True)
class _Key:
    """Sort key: newest first, then kind, then newest id; its order is the page order."""

    neg_at: float
    kind: str
    neg_id: int


def timeline(
    session: Session,
    contact_id: int,
    *,
    limit: int = 50,
    before: str | None = None,
    kinds: set[str] | None = None,
) -> TimelinePage:
    """Return one page of a contact's timeline, newest first."""
    cursor = _decode(before) if before else None
    streams = [
        _stream(session, source, contact_id, cursor, limit + 1)
        for source in SOURCES
        if kinds is None or source.kind in kinds
    ]
    merged = list(heapq.merge(*streams))[: limit + 1]
    items = [entry for _, entry in merged[:limit]]
    next_cursor = _encode(items[-1]) if len(merged) > limit else None
    return TimelinePage(items=items, next_cursor=next_cursor)


def _stream(
    session: Session, source: _Source, contact_id: int, cursor: _Cursor | None, limit: int
) -> list[tuple[_Key, TimelineEntry]]:
    query: Select[Any] = (
        select(source.model)
        .where(source.contact == contact_id)
        .order_by(source.at.desc(), source.model.id.desc())
        .limit(limit)
    )
    if source.also is not None:
        column, joined = source.also
        query = query.add_columns(column).outerjoin(column.class_, joined)
    if cursor is not None:
        query = query.where(_after(source, cursor))
    if source.hidden is not None:
        query = query.where(~source.hidden)
    entries = []
    for row, *also in session.execute(query):
        at: datetime = getattr(row, source.at.key)
        summary, data = source.entry(row, *also)
        entry = TimelineEntry(at=at, kind=source.kind, id=row.id, summary=summary, data=data)
        entries.append((_Key(-at.timestamp(), source.kind, -row.id), entry))
    return entries


@dataclass(frozen=True, slots=True)
class _Cursor:
    at: datetime
    kind: str
    id: int


def _after(source: _Source, cursor: _Cursor) -> ColumnElement[bool]:
    """Rows that sort after the cursor in (at desc, kind, id desc) order."""
    if source.kind < cursor.kind:
        return source.at < cursor.at
    if source.kind > cursor.kind:
        return source.at <= cursor.at
    return or_(source.at < cursor.at, and_(source.at == cursor.at, source.model.id < cursor.id))


def _encode(entry: TimelineEntry) -> str:
    raw = json.dumps([entry.at.isoformat(), entry.kind, entry.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(text: str) -> _Cursor:
    try:
        at, kind, entry_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if kind not in KINDS:
            raise ValueError(kind)
        return _Cursor(datetime.fromisoformat(at), kind, int(entry_id))
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidInput(
            "bad cursor", problems=[FieldProblem("before", "not a cursor returned by this API")]
        ) from None
