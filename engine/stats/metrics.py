"""What each delivery metric counts, as one SQL row source per metric.

Every source yields ``(at, journey_id, broadcast_id, template, variant, domain)``: ``at`` is
the metric's own time (``sent`` by sent_at, an open by when it happened). Rollups group a
source by hour; the raw figures group it by nothing; both read these same definitions.
Statuses this module does not know are simply not counted by any metric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from engine.store.models import Message, Suppression, TrackingEvent

#: Statuses that mean a message did not reach the inbox after it was sent.
BOUNCED_STATUSES = ("bounced", "complained")
#: The rollups' dimensions and the source column each reads.
DIMENSIONS = {
    "journey": "journey_id",
    "campaign": "broadcast_id",
    "template": "template",
    "variant": "variant",
    "domain": "domain",
}
#: Tracking events counted as a person (anything else is a machine: proxies, scanners).
HUMAN = "human"


@dataclass(frozen=True, slots=True)
class Window:
    """Half-open time range ``[start, end)`` in UTC."""

    start: datetime
    end: datetime


Source = Callable[[str, Window], Select[Any]]


def domain_of(address: SQLColumnExpression[str | None], dialect: str) -> ColumnElement[str]:
    """The lower-cased domain of an address column, ``''`` when there is none."""
    if dialect == "postgresql":
        domain = func.split_part(address, "@", 2)
    else:
        domain = func.substr(address, func.instr(address, "@") + 1)
    return func.coalesce(func.lower(domain), "")


def _columns(at: SQLColumnExpression[Any], dialect: str) -> list[ColumnElement[Any]]:
    """``at`` and the five dimensions, as every source yields them."""
    return [at.label("at"), *_dims(dialect)]


def _dims(dialect: str) -> list[ColumnElement[str]]:
    return [
        func.coalesce(Message.journey_id, "").label("journey_id"),
        func.coalesce(Message.broadcast_id, "").label("broadcast_id"),
        func.coalesce(Message.template, "").label("template"),
        func.coalesce(Message.variant, "").label("variant"),
        domain_of(Message.to_address, dialect).label("domain"),
    ]


def _messages(at: SQLColumnExpression[Any], *where: ColumnElement[bool]) -> Source:
    def source(dialect: str, window: Window) -> Select[Any]:
        return select(*_columns(at, dialect)).where(at >= window.start, at < window.end, *where)

    return source


def _tracking(kind: str, human: bool, *, unique: bool) -> Source:
    def source(dialect: str, window: Window) -> Select[Any]:
        event = TrackingEvent
        of_class = event.classification == HUMAN if human else event.classification != HUMAN
        query = (
            select(*_columns(event.occurred_at, dialect))
            .join(Message, Message.id == event.message_id)
            .where(
                event.kind == kind,
                of_class,
                event.occurred_at >= window.start,
                event.occurred_at < window.end,
            )
        )
        if unique:
            # Counted once per message, in the hour of its first event of this class.
            earlier = aliased(TrackingEvent)
            earlier_class = (
                earlier.classification == HUMAN if human else earlier.classification != HUMAN
            )
            query = query.where(
                ~exists().where(
                    earlier.message_id == event.message_id,
                    earlier.kind == kind,
                    earlier_class,
                    or_(
                        earlier.occurred_at < event.occurred_at,
                        and_(earlier.occurred_at == event.occurred_at, earlier.id < event.id),
                    ),
                )
            )
        return query

    return source


def _unsubscribed(dialect: str, window: Window) -> Select[Any]:
    # The one-click unsubscribe notes the message as "message <uid>" on its suppression.
    return (
        select(*_columns(Suppression.created_at, dialect))
        .join(Message, Suppression.detail == literal("message ") + Message.uid)
        .where(
            Suppression.reason == "unsubscribe",
            Suppression.created_at >= window.start,
            Suppression.created_at < window.end,
        )
    )


_bounced = Message.status.not_in(("complained",))
_hard = Message.smtp_code.like("5%")

#: Every stored metric, in display order; derived ones (delivered, rates) are computed.
SOURCES: dict[str, Source] = {
    "sent": _messages(Message.sent_at),
    # A deferred message waits in "queued" with the 4xx reply it got.
    "deferred": _messages(
        Message.queued_at,
        or_(
            Message.status == "deferred",
            and_(Message.status == "queued", Message.smtp_code.like("4%")),
        ),
    ),
    "failed": _messages(Message.queued_at, Message.status == "failed"),
    "bounced_hard": _messages(Message.bounced_at, _bounced, _hard),
    "bounced_soft": _messages(
        Message.bounced_at, _bounced, or_(Message.smtp_code.is_(None), ~_hard)
    ),
    "complained": _messages(
        func.coalesce(Message.bounced_at, Message.sent_at, Message.queued_at),
        Message.status == "complained",
    ),
    "unsubscribed": _unsubscribed,
    "opens_human": _tracking("open", True, unique=False),
    "opens_machine": _tracking("open", False, unique=False),
    "unique_opens_human": _tracking("open", True, unique=True),
    "unique_opens_machine": _tracking("open", False, unique=True),
    "clicks_human": _tracking("click", True, unique=False),
    "clicks_machine": _tracking("click", False, unique=False),
    "unique_clicks_human": _tracking("click", True, unique=True),
    "unique_clicks_machine": _tracking("click", False, unique=True),
}

STORED = tuple(SOURCES)
#: Computed from stored metrics when read.
DERIVED = ("delivered", "bounce_rate", "complaint_rate", "click_to_open")
METRICS = (*STORED, *DERIVED)


def derive(counts: dict[str, int]) -> dict[str, float | int]:
    """Add delivered and the rates (a rate over nothing is 0.0) to the stored counts."""
    out: dict[str, float | int] = {name: counts.get(name, 0) for name in STORED}
    sent = counts.get("sent", 0)
    bounced = counts.get("bounced_hard", 0) + counts.get("bounced_soft", 0)
    out["delivered"] = max(sent - bounced, 0)  # a complaint was delivered first
    out["bounce_rate"] = bounced / sent if sent else 0.0
    out["complaint_rate"] = counts.get("complained", 0) / sent if sent else 0.0
    opens = counts.get("unique_opens_human", 0)
    out["click_to_open"] = counts.get("unique_clicks_human", 0) / opens if opens else 0.0
    return out


def hour_of(at: SQLColumnExpression[Any], dialect: str) -> ColumnElement[Any]:
    """The UTC hour ``at`` falls in, as the database stores a UTC datetime."""
    if dialect == "postgresql":
        return func.date_trunc("hour", at, "UTC")
    # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
    return func.strftime("%Y-%m-%d %H:00:00.000000", at)
