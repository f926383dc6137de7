"""Scoring state: the active scoring file, which events each model has scored, decay runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.types import BigId, UTCDateTime


class ScoringConfig(Base):
    """The scoring file in force (``key`` is ``current``), as stored by ``nurture scoring sync``."""

    __tablename__ = "scoring_configs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScoredEvent(Base):
    """An event a model has scored: the claim that makes scoring each event exactly once."""

    __tablename__ = "scored_events"

    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DecayRun(Base):
    """When a model last decayed, so each decay period is applied once however often asked."""

    __tablename__ = "decay_runs"

    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    decayed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PoolCursor(Base):
    """A sales pool's round-robin counter, advanced atomically by one UPDATE per turn."""

    __tablename__ = "pool_cursors"

    pool: Mapped[str] = mapped_column(String(100), primary_key=True)
    turns: Mapped[int] = mapped_column(BigId, default=0)


class HandoffTimer(Base):
    """The SLA steps taken on a handoff: each is claimed once by setting its time."""

    __tablename__ = "handoff_timers"

    handoff_id: Mapped[int] = mapped_column(
        ForeignKey("handoffs.id", ondelete="CASCADE"), primary_key=True
    )
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
