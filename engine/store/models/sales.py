"""Scores, lifecycle stages and handoffs to sales, each change kept with its reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.types import BigId, Json, UTCDateTime


class ScoreChange(Base):
    """Points added or removed, and why, so a lead's score can be explained."""

    __tablename__ = "score_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(64), default="default")
    delta: Mapped[int]
    score_after: Mapped[int]
    reason: Mapped[str] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(100))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_score_changes_contact_id_occurred_at", "contact_id", "occurred_at"),
    )


class StageChange(Base):
    """A lifecycle stage transition (lead → MQL → SQL …)."""

    __tablename__ = "stage_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(32))
    to_stage: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_stage_changes_contact_id_occurred_at", "contact_id", "occurred_at"),
    )


class Handoff(Base):
    """A qualified lead handed to a salesperson, with its SLA and CRM sync state."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="SET NULL")
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    pool: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    brief: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    crm_status: Mapped[str | None] = mapped_column(String(16))
    crm_reference: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_handoffs_contact_id_created_at", "contact_id", "created_at"),
        Index("ix_handoffs_assignee_id_status", "assignee_id", "status"),
    )
