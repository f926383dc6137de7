"""Delivery rollups: hourly counts per journey, campaign, template, variant and domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.models.messages import Message, TrackingEvent
from engine.store.models.suppressions import Suppression
from engine.store.types import BigId, UTCDateTime


class DeliveryRollup(Base):
    """How many times ``metric`` happened in the hour from ``bucket_at``, for one value of one
    dimension: ``total`` (value ``''``), ``journey``, ``campaign``, ``template``, ``variant``
    or ``domain`` (value ``''`` when the message had none).

    One row per dimension value rather than per combination keeps an hour's rows bounded by
    the number of distinct values, not their product. Each metric is bucketed by its own
    time (``sent`` by sent_at, ``opens_*`` by the open's occurred_at), so a late open lands
    in the hour it happened.
    """

    __tablename__ = "delivery_rollups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bucket_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dimension: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))
    metric: Mapped[str] = mapped_column(String(32))
    count: Mapped[int]

    __table_args__ = (Index("ix_delivery_rollups_dimension_bucket_at", "dimension", "bucket_at"),)


class RollupWatermark(Base):
    """Rollups are exact for every hour before ``through`` (re-aggregated up to it)."""

    __tablename__ = "rollup_watermarks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    through: Mapped[datetime] = mapped_column(UTCDateTime)


# The refresh reads each metric's rows by its own time; these keep a refresh of the last
# hour or two an index range scan however many messages and events are stored.
Index("ix_messages_sent_at", Message.sent_at)
Index("ix_messages_bounced_at", Message.bounced_at)
Index("ix_tracking_events_occurred_at", TrackingEvent.occurred_at)
Index("ix_suppressions_created_at", Suppression.created_at)
