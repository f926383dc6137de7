"""Keep ``delivery_rollups`` current: re-aggregate recent hours from the raw rows.

A refresh deletes the rollup rows of a range of whole hours and rebuilds them from every
metric's source in one ``INSERT … SELECT … GROUP BY`` per metric, so running it twice gives
the same rows. The watermark says up to when rollups were last rebuilt; the scheduled job
rebuilds from ``LOOKBACK`` before it (opens, bounces and unsubscribes arrive late), and a
reader calls ``catch_up`` with no lookback first so figures include the last few minutes.
Functions take a session and never commit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Select,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from engine.stats.metrics import DIMENSIONS, SOURCES, Window, hour_of
from engine.store.models import DeliveryRollup, Message, RollupWatermark

WATERMARK = "delivery"
#: How often the scheduler refreshes the rollups (readers catch up the rest themselves).
REFRESH_INTERVAL = timedelta(minutes=1)
#: How far back each scheduled refresh looks again, for events that arrive late.
LOOKBACK = timedelta(hours=2)
#: Serialises refreshes on PostgreSQL (SQLite serialises writers anyway).
_LOCK_ID = 0x6E7572_7301


def floor_hour(at: datetime) -> datetime:
    """The start of the UTC hour ``at`` is in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def refresh(session: Session, window: Window) -> int:
    """Rebuild the rollups of every hour touching ``window``; return the rows written."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    hours = Window(floor_hour(window.start), floor_hour(window.end) + timedelta(hours=1))
    session.execute(
        delete(DeliveryRollup).where(
            DeliveryRollup.bucket_at >= hours.start, DeliveryRollup.bucket_at < hours.end
        )
    )
    written = 0
    for metric, source in SOURCES.items():
        result = session.execute(
            insert(DeliveryRollup).from_select(
                ["bucket_at", "dimension", "value", "metric", "count"],
                _per_dimension(source(dialect, hours), metric, dialect),
            )
        )
        written += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    return written


def _per_dimension(rows: Select[Any], metric: str, dialect: str) -> CompoundSelect[Any]:
    # Group the window's rows once by hour and every dimension, then fold that small
    # result into one total per hour and one count per value of each dimension.
    raw = rows.subquery()
    bucket = hour_of(raw.c.at, dialect).label("bucket")
    dims = [raw.c[column] for column in DIMENSIONS.values()]
    grouped = (
        select(bucket, *dims, func.count().label("n")).group_by(bucket, *dims).cte(f"g_{metric}")
    )
    parts = [
        select(
            grouped.c.bucket, literal("total"), literal(""), literal(metric), func.sum(grouped.c.n)
        ).group_by(grouped.c.bucket)
    ]
    for dimension, column in DIMENSIONS.items():
        parts.append(
            select(
                grouped.c.bucket,
                literal(dimension),
                grouped.c[column],
                literal(metric),
                func.sum(grouped.c.n),
            ).group_by(grouped.c.bucket, grouped.c[column])
        )
    return union_all(*parts)


def watermark(session: Session) -> datetime | None:
    """Up to when the rollups were last rebuilt, or None before the first build."""
    return session.scalar(select(RollupWatermark.through).where(RollupWatermark.name == WATERMARK))


def catch_up(session: Session, *, now: datetime, lookback: timedelta = LOOKBACK) -> Window:
    """Rebuild from ``lookback`` before the watermark (from the first message the first
    time) up to ``now``, then move the watermark to ``now``; return the rebuilt window."""
    mark = watermark(session)
    if mark is None:
        first = session.scalar(select(func.min(Message.queued_at)))
        start = min(first, now) if first is not None else now
    else:
        start = min(mark, now) - lookback
    window = Window(start, now)
    refresh(session, window)
    stored = session.get(RollupWatermark, WATERMARK)
    if stored is None:
        session.add(RollupWatermark(name=WATERMARK, through=now))
    else:
        stored.through = now
    session.flush()
    return window
