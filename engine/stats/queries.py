"""Read delivery figures from the rollups: totals, series over time, breakdowns, alarms."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.stats.metrics import Window, derive
from engine.stats.rollups import floor_hour
from engine.store.models import DeliveryRollup

GroupBy = Literal["hour", "day", "journey", "campaign", "template", "variant", "domain"]
GROUPS: tuple[GroupBy, ...] = (
    "hour",
    "day",
    "journey",
    "campaign",
    "template",
    "variant",
    "domain",
)

#: Alarm thresholds: more than 2 % bounces or 0.1 % complaints of what was sent.
BOUNCE_RATE_ALARM = 0.02
COMPLAINT_RATE_ALARM = 0.001
#: A domain is "deferring" when this share of its attempts were deferred (and at least 5).
DEFER_RATE_ALARM = 0.2
DEFER_MIN = 5


@dataclass(frozen=True, slots=True)
class Row:
    """One group's figures: ``key`` is an ISO time, or a journey/campaign/... name ('' = none)."""

    key: str
    figures: dict[str, float | int]


@dataclass(frozen=True, slots=True)
class Alarm:
    """A deliverability problem: ``kind`` (bounce_rate, complaint_rate, deferring_domain)."""

    kind: str
    subject: str
    value: float
    threshold: float


def hours_of(window: Window) -> Window:
    """Widen ``window`` to whole UTC hours, the rollups' grain."""
    end = floor_hour(window.end)
    if end < window.end:
        end += timedelta(hours=1)
    return Window(floor_hour(window.start), end)


def totals(session: Session, window: Window) -> dict[str, float | int]:
    """Every metric over ``window`` (whole hours)."""
    hours = hours_of(window)
    rows = session.execute(
        select(DeliveryRollup.metric, func.sum(DeliveryRollup.count))
        .where(
            DeliveryRollup.dimension == "total",
            DeliveryRollup.bucket_at >= hours.start,
            DeliveryRollup.bucket_at < hours.end,
        )
        .group_by(DeliveryRollup.metric)
    )
    return derive({metric: int(count or 0) for metric, count in rows})


def breakdown(
    session: Session, window: Window, group_by: GroupBy, *, tz: ZoneInfo | None = None
) -> list[Row]:
    """Figures per hour or day (in ``tz``, UTC by default) or per dimension value."""
    hours = hours_of(window)
    in_window = (
        DeliveryRollup.dimension == ("total" if group_by in ("hour", "day") else group_by),
        DeliveryRollup.bucket_at >= hours.start,
        DeliveryRollup.bucket_at < hours.end,
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if group_by in ("hour", "day"):
        zone = tz or ZoneInfo("UTC")
        by_hour = (
            select(DeliveryRollup.bucket_at, DeliveryRollup.metric, func.sum(DeliveryRollup.count))
            .where(*in_window)
            .group_by(DeliveryRollup.bucket_at, DeliveryRollup.metric)
        )
        for bucket, metric, count in session.execute(by_hour):
            local: datetime = bucket.astimezone(zone)
            key = local.date().isoformat() if group_by == "day" else local.isoformat()
            figures = counts[key]
            figures[metric] = figures.get(metric, 0) + int(count or 0)
        return [Row(key, derive(counts[key])) for key in sorted(counts)]
    query = (
        select(DeliveryRollup.value, DeliveryRollup.metric, func.sum(DeliveryRollup.count))
        .where(*in_window)
        .group_by(DeliveryRollup.value, DeliveryRollup.metric)
    )
    for value, metric, count in session.execute(query):
        counts[value][metric] = int(count or 0)
    return _ranked(counts)


def breakdowns(
    session: Session, window: Window, groups: tuple[GroupBy, ...]
) -> dict[GroupBy, list[Row]]:
    """Figures per value of each dimension in ``groups``, read in one pass over the rollups."""
    hours = hours_of(window)
    query = (
        select(
            DeliveryRollup.dimension,
            DeliveryRollup.value,
            DeliveryRollup.metric,
            func.sum(DeliveryRollup.count),
        )
        .where(
            DeliveryRollup.dimension.in_(groups),
            DeliveryRollup.bucket_at >= hours.start,
            DeliveryRollup.bucket_at < hours.end,
        )
        .group_by(DeliveryRollup.dimension, DeliveryRollup.value, DeliveryRollup.metric)
    )
    counts: dict[str, dict[str, dict[str, int]]] = {group: defaultdict(dict) for group in groups}
    for dimension, value, metric, count in session.execute(query):
        counts[dimension][value][metric] = int(count or 0)
    return {group: _ranked(counts[group]) for group in groups}


def _ranked(counts: dict[str, dict[str, int]]) -> list[Row]:
    rows = [Row(key, derive(figures)) for key, figures in counts.items()]
    return sorted(rows, key=lambda row: (-int(row.figures["sent"]), row.key))


def alarms(total: dict[str, float | int], domains: list[Row]) -> list[Alarm]:
    """Deliverability alarms over the window's totals and its per-domain rows."""
    found = []
    if total["sent"] and total["bounce_rate"] > BOUNCE_RATE_ALARM:
        found.append(Alarm("bounce_rate", "", float(total["bounce_rate"]), BOUNCE_RATE_ALARM))
    if total["sent"] and total["complaint_rate"] > COMPLAINT_RATE_ALARM:
        found.append(
            Alarm("complaint_rate", "", float(total["complaint_rate"]), COMPLAINT_RATE_ALARM)
        )
    for row in domains:
        deferred = int(row.figures["deferred"])
        attempts = deferred + int(row.figures["sent"])
        if deferred >= DEFER_MIN and deferred / attempts > DEFER_RATE_ALARM:
            found.append(Alarm("deferring_domain", row.key, deferred / attempts, DEFER_RATE_ALARM))
    return found
