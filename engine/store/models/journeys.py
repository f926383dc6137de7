"""Published journeys, their immutable versions, and the enrollments that run through them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.types import BigId, Json, UTCDateTime


class Journey(Base):
    """A journey by its stable id (``b2b-lead-nurture``); its steps live in versions."""

    __tablename__ = "journeys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    active_version: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JourneyVersion(Base):
    """One published version: the YAML as written and its compiled spec; never changed."""

    __tablename__ = "journey_versions"

    journey_id: Mapped[str] = mapped_column(
        ForeignKey("journeys.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(Json)
    checksum: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_by: Mapped[str] = mapped_column(String(200))


class Enrollment(Base):
    """A contact's run through one journey version: where it is and when it next wakes.

    The database row is the durable timer: the scheduler sweeps rows whose ``wake_at`` is due,
    and ``waiting_on`` says which event would wake it sooner.
    """

    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    journey_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200), default="")
    entry_event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    step: Mapped[str] = mapped_column(String(64))
    wake_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_on: Mapped[dict[str, Any] | None] = mapped_column(Json)
    entry: Mapped[dict[str, Any]] = mapped_column(Json)
    state: Mapped[dict[str, Any]] = mapped_column(Json)
    steps_taken: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    exited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        ForeignKeyConstraint(
            ["journey_id", "version"],
            ["journey_versions.journey_id", "journey_versions.version"],
            ondelete="CASCADE",
        ),
        # The sweep's question: live enrollments by wake time (a partial index stays small).
        Index(
            "ix_enrollments_due",
            "wake_at",
            "id",
            sqlite_where=text("status != 'exited'"),
            postgresql_where=text("status != 'exited'"),
        ),
        Index("ix_enrollments_contact_id_journey_id_key", "contact_id", "journey_id", "key"),
        Index("ix_enrollments_journey_id_step", "journey_id", "step"),
        # An event enrolls a contact in a journey once, however often it is routed.
        UniqueConstraint("journey_id", "entry_event_id"),
        # One live enrollment per journey, contact and correlation key, even under races.
        Index(
            "uq_enrollments_live_key",
            "journey_id",
            "contact_id",
            "key",
            unique=True,
            sqlite_where=text("status != 'exited'"),
            postgresql_where=text("status != 'exited'"),
        ),
    )


class StepRun(Base):
    """One execution of a step, keyed by enrollment, step and attempt: a redelivered message
    inserts nothing twice.

    A worker writes several per stepped enrollment, so the table carries no surrogate id and
    no foreign key to ``enrollments``: checking the key cost about a sixth of the database's
    work per step. ``erase_contact`` deletes a contact's step runs itself.
    """

    __tablename__ = "step_runs"

    enrollment_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempt: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any] | None] = mapped_column(Json)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """Work to dispatch, written in the same transaction as the state change that caused it.

    ``done_at`` is set by the consumer, in the transaction that did the work; until then the
    relay sends the row again each time its lease (``available_at``) runs out.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)

    __table_args__ = (Index("ix_outbox_done_at_available_at", "done_at", "available_at"),)


class TriggerCheckpoint(Base):
    """How far a journey's date or schedule trigger has looked, and where its walk stands.

    ``checked_until`` is the end of the last window fully walked. A window being walked has
    ``window_end`` and the last contact id done (``cursor``), committed with each batch's
    enrollments, so a restart resumes exactly where it stopped: nobody skipped, nobody twice.
    """

    __tablename__ = "trigger_checkpoints"

    journey_id: Mapped[str] = mapped_column(
        ForeignKey("journeys.id", ondelete="CASCADE"), primary_key=True
    )
    trigger: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int]
    checked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cursor: Mapped[int | None] = mapped_column(BigId)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
