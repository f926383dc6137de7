"""Local-time arithmetic: contact time zones, send windows, quiet hours and wait targets.

Nothing here reads the clock; every function takes the instant it reasons about
and returns aware UTC datetimes. One rule turns a local wall-clock time into an
instant, DST included: *the earliest instant at which the contact's clock reads
that time or later*. So a time skipped by a spring-forward gap lands on the
moment the clocks jump (02:30 on 2026-03-08 in New York is 03:00 EDT), and a time
repeated by a fall-back overlap lands on its first occurrence (01:30 on
2026-11-01 in New York is 01:30 EDT, not EST).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from engine.journey.predicates import MISSING, lookup
from engine.journey.times import WEEKDAYS, known_time_zones

if TYPE_CHECKING:
    from engine.journey.spec import QuietHours, SendWindow, TimezonePolicy

_DAY = timedelta(days=1)
_HORIZON_DAYS = 9
"""Days scanned for a window opening: a non-empty weekly window opens within 7."""


def zone_named(name: Any) -> zoneinfo.ZoneInfo | None:
    """Return the IANA zone called ``name``, or None when it is not a known zone name."""
    if not isinstance(name, str) or name not in known_time_zones():
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # pragma: no cover - tzdata gap
        return None


def contact_zone(policy: TimezonePolicy, attributes: Mapping[str, Any]) -> zoneinfo.ZoneInfo:
    """Return the contact's zone from ``policy.attribute``, else ``policy.fallback``."""
    value = lookup(attributes, policy.attribute)
    zone = zone_named(value) if value is not MISSING else None
    return zone if zone is not None else zoneinfo.ZoneInfo(policy.fallback)


def utc(moment: datetime) -> datetime:
    """Return ``moment`` as aware UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def wall(moment: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """Return the naive wall-clock time ``moment`` shows in ``zone``."""
    return utc(moment).astimezone(zone).replace(tzinfo=None)


def localize(naive: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """Return the earliest UTC instant whose wall clock in ``zone`` reads ``naive`` or later."""
    naive = naive.replace(tzinfo=None)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:  # neither a gap nor an overlap: the one instant (almost always)
        return first
    exact = [t for t in (first, second) if wall(t, zone) == naive]
    if exact:
        return min(exact)  # an overlap yields two instants: take the first occurrence
    # A gap: the wall clock jumps past ``naive`` somewhere between the two readings
    # (one shows a time before the gap, the other after); find the jump.
    return _first_instant(min(first, second), max(first, second), lambda t: wall(t, zone) >= naive)


def at_local(day: date, at: time, zone: zoneinfo.ZoneInfo) -> datetime:
    """Return the instant ``day`` at ``at`` in ``zone`` (see the module's DST rule)."""
    return localize(datetime.combine(day, at), zone)


def in_send_window(moment: datetime, zone: zoneinfo.ZoneInfo, window: SendWindow | None) -> bool:
    """Say whether ``moment`` falls on an allowed local day in ``[start, end)`` (no window: yes)."""
    if window is None:
        return True
    local = wall(moment, zone)
    return WEEKDAYS[local.weekday()] in window.days and window.start <= local.time() < window.end


def in_quiet_hours(moment: datetime, zone: zoneinfo.ZoneInfo, quiet: QuietHours | None) -> bool:
    """Say whether ``moment`` falls in local ``[start, end)``, which may wrap midnight."""
    if quiet is None or quiet.start == quiet.end:
        return False
    clock = wall(moment, zone).time()
    if quiet.start < quiet.end:
        return quiet.start <= clock < quiet.end
    return clock >= quiet.start or clock < quiet.end


def may_send(
    moment: datetime,
    zone: zoneinfo.ZoneInfo,
    window: SendWindow | None,
    quiet: QuietHours | None,
) -> bool:
    """Say whether a send at ``moment`` is inside the window and outside quiet hours."""
    return in_send_window(moment, zone, window) and not in_quiet_hours(moment, zone, quiet)


def next_send_time(
    now: datetime,
    zone: zoneinfo.ZoneInfo,
    window: SendWindow | None,
    quiet: QuietHours | None,
) -> datetime | None:
    """Return the earliest instant ≥ ``now`` a send may leave, or None if there is none.

    An allowed stretch can only begin at ``now``, a window opening, the end of quiet
    hours (either occurrence in a fall-back overlap) or a DST transition, so those
    candidates over the next nine local days are tested in order.
    """
    now = utc(now)
    if may_send(now, zone, window, quiet):
        return now
    today = wall(now, zone).date()
    candidates: set[datetime] = set()
    for offset in range(-1, _HORIZON_DAYS):
        day = today + offset * _DAY
        for clock in (window.start if window else None, quiet.end if quiet else None):
            if clock is not None:
                candidates.update(_readings(datetime.combine(day, clock), zone))
        candidates.update(_transitions(day, zone))
    for candidate in sorted(c for c in candidates if c >= now):
        if may_send(candidate, zone, window, quiet):
            return candidate
    return None


def after(start: datetime, duration: timedelta, zone: zoneinfo.ZoneInfo) -> datetime:
    """Return ``start + duration``: whole days move the local calendar, the rest is elapsed time.

    ``2d`` from Saturday 09:00 is Monday 09:00 local even across a DST change;
    ``36h`` is 36 elapsed hours.
    """
    start = utc(start)
    if duration and duration % _DAY == timedelta(0):
        moved = start.astimezone(zone) + duration  # the local calendar moves, fold 0
        if moved.utcoffset() == moved.replace(fold=1).utcoffset():
            return moved.astimezone(UTC)  # a wall time that names one instant (almost always)
        return localize(moved, zone)  # in a DST gap or overlap
    return start + duration


def instant(value: date | datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """Return an ``until:`` moment: aware is absolute; a date or naive time is contact-local."""
    if isinstance(value, datetime):
        return utc(value) if value.tzinfo is not None else localize(value, zone)
    return at_local(value, time(0), zone)


def date_anchor(
    value: Any, offset: timedelta, at: time | None, zone: zoneinfo.ZoneInfo
) -> datetime | None:
    """Return ``value + offset`` at local ``at`` (None when ``value`` is not a date).

    The offset moves the local calendar (``-7d`` is the same clock time a week
    earlier); ``at`` then sets the local clock time. A date-time value with a zone
    is first read in the contact's zone; without one it is taken as UTC.
    """
    moment = _as_date_or_datetime(value)
    if moment is None:
        return None
    naive = (
        wall(moment, zone) if isinstance(moment, datetime) else datetime.combine(moment, time(0))
    )
    naive += offset
    if at is not None:
        naive = datetime.combine(naive.date(), at)
    return localize(naive, zone)


def align(
    moment: datetime,
    zone: zoneinfo.ZoneInfo,
    at: time | None,
    days: Sequence[str] | None,
) -> datetime:
    """Return the earliest instant ≥ ``moment`` at local ``at`` on one of ``days``.

    Either part may be absent. With no allowed day at all, ``moment`` is returned.
    """
    moment = utc(moment)
    if at is None and not days:
        return moment
    start = wall(moment, zone).date()
    for offset in range(_HORIZON_DAYS):
        day = start + offset * _DAY
        if days and WEEKDAYS[day.weekday()] not in days:
            continue
        if at is not None:
            candidate = at_local(day, at, zone)
        else:
            candidate = moment if offset == 0 else at_local(day, time(0), zone)
        if candidate >= moment:
            return candidate
    return moment


def _readings(naive: datetime, zone: zoneinfo.ZoneInfo) -> Iterator[datetime]:
    """Yield every instant at which the clock first reads ``naive`` or later (1 or 2)."""
    yield localize(naive, zone)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if wall(second, zone) == naive:
        yield second


def _transitions(day: date, zone: zoneinfo.ZoneInfo) -> Iterator[datetime]:
    """Yield the instant of a UTC-offset change during the local ``day``, if any."""
    low = localize(datetime.combine(day, time(0)), zone)
    high = localize(datetime.combine(day + _DAY, time(0)), zone)
    if low.astimezone(zone).utcoffset() == high.astimezone(zone).utcoffset():
        return
    before = low.astimezone(zone).utcoffset()
    yield _first_instant(low, high, lambda t: t.astimezone(zone).utcoffset() != before)


def _first_instant(low: datetime, high: datetime, reached: Callable[[datetime], bool]) -> datetime:
    """Return the first microsecond in ``(low, high]`` where monotone ``reached`` holds."""
    lo, hi = 0, (high - low) // timedelta(microseconds=1)
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if reached(low + timedelta(microseconds=middle)):
            hi = middle
        else:
            lo = middle
    return low + timedelta(microseconds=hi)


def _as_date_or_datetime(value: Any) -> date | datetime | None:
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)
    except ValueError:
        return None
