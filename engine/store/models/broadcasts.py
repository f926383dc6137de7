"""Broadcasts: one-off campaigns to an audience, walked in batches from a checkpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base, table_of
from engine.store.models.messages import Message
from engine.store.types import BigId, Json, UTCDateTime


class Broadcast(Base):
    """A campaign and its walk: ``phase`` and ``cursor`` (the last contact id done) resume it.

    ``status`` goes draft → scheduled → sending → sent (every message queued) → finished
    (every message final), or cancelled. With an A/B test, ``phase`` runs ``sample`` →
    ``waiting`` (until ``decide_at``) → ``rest`` with ``winner``; ``ab_result`` keeps the counts.
    """

    __tablename__ = "broadcasts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(Text)
    template: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(100))
    segment: Mapped[str | None] = mapped_column(String(64))
    tag: Mapped[str | None] = mapped_column(String(100))
    list_key: Mapped[str | None] = mapped_column(String(100))
    ab: Mapped[Any | None] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16))
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    phase: Mapped[str | None] = mapped_column(String(16))
    cursor: Mapped[int] = mapped_column(BigId, default=0)
    decide_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    winner: Mapped[str | None] = mapped_column(String(32))
    ab_result: Mapped[Any | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_broadcasts_status_send_at", "status", "send_at"),)


#: A broadcast's messages by status, for its counts and for "is every message final".
Index(
    "ix_messages_broadcast_id_status",
    table_of(Message).c.broadcast_id,
    table_of(Message).c.status,
)
