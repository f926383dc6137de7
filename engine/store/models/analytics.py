"""Analytics results kept per contact, so segments can ask ``{rfm: champions}`` in SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import Base
from engine.store.types import UTCDateTime


class RfmScore(Base):
    """A customer's recency, frequency and monetary scores (1–5) and RFM class.

    One row per contact with at least one purchase; the daily recompute replaces them all.
    ``monetary`` is in the currency's major unit (yen, dollars), summed over purchases.
    """

    __tablename__ = "rfm_scores"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    recency_days: Mapped[int]
    frequency: Mapped[int]
    monetary: Mapped[float] = mapped_column(Numeric(18, 2, asdecimal=False))
    r: Mapped[int]
    f: Mapped[int]
    m: Mapped[int]
    rfm_class: Mapped[str] = mapped_column("class", String(32))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_rfm_scores_class", "class", "contact_id"),)
