"""Addresses we must not mail, checked at send time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.types import BigId, UTCDateTime

SUPPRESSION_REASONS = (
    "hard_bounce",
    "soft_bounce",
    "complaint",
    "unsubscribe",
    "manual",
    "invalid",
)


class Suppression(Base):
    """A suppressed address; ``scope`` is a topic, or ``*`` for all mail."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    scope: Mapped[str] = mapped_column(String(100), default="*")
    reason: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("email", "scope"),)
