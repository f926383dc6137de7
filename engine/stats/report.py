"""Everything the delivery dashboard shows, for one window, read from the rollups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from engine.stats.metrics import Window
from engine.stats.queries import Alarm, GroupBy, Row, alarms, breakdown, breakdowns, totals
from engine.stats.rollups import catch_up

#: The dashboard's tables besides the series over time, in display order.
BREAKDOWNS: tuple[GroupBy, ...] = ("journey", "campaign", "template", "variant", "domain")


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Totals, a series (per hour or day), one table per dimension, and the alarms."""

    window: Window
    totals: dict[str, float | int]
    series: list[Row]
    tables: dict[GroupBy, list[Row]]
    alarms: list[Alarm]


def bring_up_to_date(session: Session, *, now: datetime) -> None:
    """Roll up what happened since the last scheduled refresh, so readers see exact figures."""
    catch_up(session, now=now, lookback=timedelta(0))


def delivery_report(
    session: Session, window: Window, *, step: GroupBy, tz: ZoneInfo
) -> DeliveryReport:
    """Read the whole dashboard for ``window``; ``step`` is ``hour`` or ``day`` (in ``tz``)."""
    total = totals(session, window)
    tables = breakdowns(session, window, BREAKDOWNS)
    return DeliveryReport(
        window=window,
        totals=total,
        series=breakdown(session, window, step, tz=tz),
        tables=tables,
        alarms=alarms(total, tables["domain"]),
    )
