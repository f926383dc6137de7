"""When date and schedule triggers fire: pure arithmetic over a window of time.

The runtime walks windows ``(checked_until, now]`` and asks, per contact, when its date
trigger fires (``date_moment``) and, per journey, the last time its schedule fired
(``latest_fire``). A moment is counted in exactly one window, so each fires once.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from engine.journey.cron import CronFields, cron_fields
from engine.journey.predicates import MISSING, lookup
from engine.journey.schedule import contact_zone, date_anchor, localize, utc, wall
from engine.journey.spec import TimezonePolicy
from engine.journey.triggers import DateAnchor, Schedule

_DAY = timedelta(days=1)
#: How far back a schedule looks for a missed firing (after downtime): one is enough.
SCHEDULE_LOOKBACK = timedelta(days=400)
#: Slack around a date attribute for time zones (±14 h) and ``at`` (up to a day).
DATE_SLACK = timedelta(days=2)


def date_moment(
    anchor: DateAnchor, attributes: Mapping[str, Any], policy: TimezonePolicy
) -> datetime | None:
    """The instant a date trigger fires for this contact (None without a usable date).

    ``attribute + offset`` on the contact's local calendar, at ``at`` local time (midnight
    when ``at`` is not given), in the zone the journey's ``timezone`` policy picks.
    """
    value = lookup(attributes, anchor.attribute)
    if value is MISSING or value is None:
        return None
    return date_anchor(value, anchor.offset, anchor.at, contact_zone(policy, attributes))


def late_horizon(anchor: DateAnchor) -> timedelta:
    """How far back ``late_entry: enter_now`` reaches when a journey is first published.

    A contact whose moment passed but whose date itself is still ahead (or today) enters:
    ``end_date - 30d`` published 10 days before the end date enters that contact now.
    """
    return max(-anchor.offset, timedelta(0)) + _DAY


def date_window(anchor: DateAnchor, start: datetime, end: datetime) -> tuple[str, str]:
    """Bare ISO dates bounding the attribute values whose moment can fall in ``(start, end]``.

    Wide by ``DATE_SLACK`` on both sides; the exact moment decides. The runtime uses it to
    let SQL pick the candidates, so a window never reads every contact.
    """
    low = (utc(start) - anchor.offset - DATE_SLACK).date()
    high = (utc(end) - anchor.offset + DATE_SLACK).date()
    return low.isoformat(), high.isoformat()


def latest_fire(schedule: Schedule, after: datetime, until: datetime) -> datetime | None:
    """The last instant in ``(after, until]`` the schedule fires at, or None.

    Several missed firings (the scheduler was down) collapse into the latest one: a
    weekly newsletter sent late is sent once, not once per missed week.
    """
    zone = zoneinfo.ZoneInfo(schedule.timezone or "UTC")
    fields = cron_fields(schedule.cron)
    after = max(utc(after), utc(until) - SCHEDULE_LOOKBACK)
    day, first_day = wall(until, zone).date(), wall(after, zone).date()
    while day >= first_day:
        if _day_matches(fields, day.month, day.day, (day.weekday() + 1) % 7):
            for hour in sorted(fields.hours, reverse=True):
                for minute in sorted(fields.minutes, reverse=True):
                    moment = localize(datetime.combine(day, time(hour, minute)), zone)
                    if moment <= after:
                        return None
                    if moment <= utc(until):
                        return moment
        day -= _DAY
    return None


def _day_matches(fields: CronFields, month: int, day: int, weekday: int) -> bool:
    if month not in fields.months:
        return False
    if fields.days_restricted and fields.weekdays_restricted:
        return day in fields.days or weekday in fields.weekdays
    return day in fields.days and weekday in fields.weekdays
