"""Who is in which segment, so a condition can ask ``{segment: trial_users}`` in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.types import Json, UTCDateTime


class SegmentMembership(Base):
    """A contact inside a segment since ``entered_at``; leaving deletes the row."""

    __tablename__ = "segment_memberships"

    segment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_segment_memberships_contact_id", "contact_id"),)


class Segment(Base):
    """A segment definition: its condition as written (YAML) and as parsed (JSON).

    Membership lives in ``segment_memberships``; ``reconciled_at`` is the last full
    re-evaluation, between which changed contacts are re-checked one batch at a time.
    """

    __tablename__ = "segments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    condition: Mapped[Any] = mapped_column(Json)
    checksum: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
