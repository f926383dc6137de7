"""Who is in which segment, so a condition can ask ``{segment: trial_users}`` in SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.types import UTCDateTime


class SegmentMembership(Base):
    """A contact inside a segment since ``entered_at``; leaving deletes the row."""

    __tablename__ = "segment_memberships"

    segment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_segment_memberships_contact_id", "contact_id"),)
