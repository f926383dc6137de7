"""Bounces and complaints we received, and the raw inbound mail they came in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.types import BigId, UTCDateTime


class InboundMail(Base):
    """A message received by the bounce receiver or API, stored before it is parsed.

    Kept raw so nothing is lost when parsing fails or the parser improves; ``sha256``
    makes a redelivery of the same bytes land once.
    """

    __tablename__ = "inbound_mail"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    mail_from: Mapped[str | None] = mapped_column(String(320))
    rcpt_to: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class Bounce(Base):
    """One recipient's bounce, complaint or auto-reply, attributed to our message if found.

    ``kind`` is hard, soft, complaint, auto_reply or not_bounce; ``dedupe_key`` (a hash of
    the raw message and the recipient) makes a redelivered report count once.
    """

    __tablename__ = "bounces"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    diagnostic: Mapped[str | None] = mapped_column(Text)
    remote_mta: Mapped[str | None] = mapped_column(String(255))
    feedback_type: Mapped[str | None] = mapped_column(String(32))
    raw_sha256: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_bounces_recipient_received_at", "recipient", "received_at"),
        Index("ix_bounces_contact_id_received_at", "contact_id", "received_at"),
        Index("ix_bounces_message_id", "message_id"),
    )
