"""When date and schedule triggers fire: cron as Vixie cron reads it, local time, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.journey.spec import TimezonePolicy
from engine.journey.timed_entry import date_moment, date_window, late_horizon, latest_fire
from engine.journey.triggers import DateAnchor, Schedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "zone", "after", "until", "expected"),
    [
        # Day-of-week 1 is Monday and 0 and 7 are Sunday, as in crontab(5).
        ("0 9 * * 1", "Asia/Tokyo", utc(2026, 11, 29), utc(2026, 12, 1), utc(2026, 11, 30, 0)),
        ("0 9 * * 0", "Asia/Tokyo", utc(2026, 11, 25), utc(2026, 11, 30), utc(2026, 11, 29, 0)),
        ("0 9 * * 7", "Asia/Tokyo", utc(2026, 11, 25), utc(2026, 11, 30), utc(2026, 11, 29, 0)),
        ("0 9 * * MON", "Asia/Tokyo", utc(2026, 11, 30), utc(2026, 12, 6), None),
        # Steps start at the range's first value: */20 is :00, :20, :40.
        ("*/20 * * * *", "UTC", utc(2026, 1, 1), utc(2026, 1, 1, 0, 59), utc(2026, 1, 1, 0, 40)),
        ("5/20 * * * *", "UTC", utc(2026, 1, 1), utc(2026, 1, 1, 0, 59), utc(2026, 1, 1, 0, 45)),
        # Day of month and day of week both restricted: either one matches.
        ("0 0 13 * 5", "UTC", utc(2026, 11, 1), utc(2026, 11, 12), utc(2026, 11, 6)),
        ("0 0 13 * 5", "UTC", utc(2026, 11, 12), utc(2026, 11, 13, 1), utc(2026, 11, 13)),
        # 02:30 does not exist in New York on 2026-03-08: it fires when clocks jump, 03:00 EDT.
        (
            "30 2 * * *",
            "America/New_York",
            utc(2026, 3, 8),
            utc(2026, 3, 8, 12),
            utc(2026, 3, 8, 7),
        ),
        # The bounds: after is excluded, until included.
        ("0 0 * * *", "UTC", utc(2026, 5, 1), utc(2026, 5, 1, 0, 0), None),
        ("0 0 * * *", "UTC", utc(2026, 4, 30, 23), utc(2026, 5, 1), utc(2026, 5, 1)),
    ],
)
def test_latest_fire(cron, zone, after, until, expected) -> None:
    assert latest_fire(Schedule(cron=cron, timezone=zone), after, until) == expected


def test_missed_firings_collapse_into_the_latest() -> None:
    weekly = Schedule(cron="0 9 * * MON", timezone="Asia/Tokyo")

    fired = latest_fire(weekly, utc(2026, 11, 1), utc(2026, 12, 1))

    assert fired == utc(2026, 11, 30, 0)


POLICY = TimezonePolicy(attribute="timezone", fallback="Asia/Tokyo")


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"contract": {"end_date": "2027-01-10"}, "timezone": "Asia/Tokyo"}, utc(2026, 12, 11, 0)),
        ({"contract": {"end_date": "2027-01-10"}}, utc(2026, 12, 11, 0)),  # the fallback zone
        (
            {"contract": {"end_date": "2027-01-10"}, "timezone": "America/New_York"},
            utc(2026, 12, 11, 14),
        ),
        ({"contract": {"end_date": "2027-01-10T23:30:00+09:00"}}, utc(2026, 12, 11, 0)),
        ({"contract": {"end_date": None}}, None),
        ({"contract": {"end_date": "未定"}}, None),
        ({}, None),
    ],
)
def test_date_moment(attributes, expected) -> None:
    anchor = DateAnchor(attribute="contract.end_date", offset=timedelta(days=-30), at="09:00")

    assert date_moment(anchor, attributes, POLICY) == expected


def test_the_sql_window_covers_every_zone() -> None:
    anchor = DateAnchor(attribute="contract.end_date", offset=timedelta(days=-30), at="09:00")

    low, high = date_window(anchor, utc(2026, 12, 10, 23), utc(2026, 12, 11, 15))

    assert (low, high) == ("2027-01-07", "2027-01-12")
    assert late_horizon(anchor) == timedelta(days=31)
    assert late_horizon(DateAnchor(attribute="birthday", offset=timedelta(days=3))) == timedelta(
        days=1
    )
