"""Mail we sent, the links in it, and the opens, clicks and page views we tracked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.types import BigId, UTCDateTime


class Message(Base):
    """One email to one recipient; ``uid`` is the opaque public handle used in tracking tokens.

    ``message_id`` (the RFC 5322 header) is stored before sending so a retry reuses it.
    """

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    to_address: Mapped[str | None] = mapped_column(String(320))
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="SET NULL")
    )
    journey_id: Mapped[str | None] = mapped_column(String(64))
    step_id: Mapped[str | None] = mapped_column(String(64))
    broadcast_id: Mapped[str | None] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(200))
    variant: Mapped[str | None] = mapped_column(String(32))
    topic: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    smtp_code: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_messages_contact_id_queued_at", "contact_id", "queued_at"),
        Index("ix_messages_journey_id_step_id", "journey_id", "step_id"),
        Index("ix_messages_status_queued_at", "status", "queued_at"),
    )


class Link(Base):
    """A link in a sent message; the click redirect looks the target up here, never in the URL."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    position: Mapped[int]
    url: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("message_id", "position"),)


class TrackingEvent(Base):
    """An open, click or page view, with its class (human, machine, scanner) and why."""

    __tablename__ = "tracking_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    anonymous_id: Mapped[str | None] = mapped_column(String(64))
    classification: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dedupe_key: Mapped[str | None] = mapped_column(String(100), unique=True)

    __table_args__ = (
        Index("ix_tracking_events_contact_id_occurred_at", "contact_id", "occurred_at"),
        # Per-message stats, and the consumer's window of recent clicks (scanner bursts).
        Index(
            "ix_tracking_events_message_id_kind_occurred_at", "message_id", "kind", "occurred_at"
        ),
    )
