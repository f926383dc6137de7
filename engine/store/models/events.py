"""Behavioural events: what contacts (or anonymous visitors) did, as reported to us."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.types import BigId, Json, UTCDateTime


class Event(Base):
    """One event; ``idempotency_key`` makes a re-posted event land once."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    anonymous_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(100))
    properties: Mapped[dict[str, Any]] = mapped_column(Json)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    __table_args__ = (
        Index("ix_events_contact_id_occurred_at", "contact_id", "occurred_at"),
        Index("ix_events_type_occurred_at", "type", "occurred_at"),
        # Segment event counts ("3 page views in 30 days") per contact read only this index.
        Index("ix_events_contact_id_type_occurred_at", "contact_id", "type", "occurred_at"),
        Index("ix_events_anonymous_id", "anonymous_id"),
    )
