"""Durations, clock times, time zones and cron, table-driven."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.journey.cron import cron_problems
from engine.journey.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("0d", timedelta(0)),
    ],
)
def test_duration_parses(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1mo", "months or years"),
        ("2 months", "months or years"),
        ("1y", "months or years"),
        ("1M", "months or years"),
        ("2 d", "not a duration"),
        ("1.5h", "not a duration"),
        ("1d12h", "not a duration"),
        ("", "not a duration"),
        ("-3d", "negative"),
    ],
)
def test_duration_refuses(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as caught:
        parse_duration(text)

    assert text in str(caught.value)


def test_signed_duration_allows_offsets_before() -> None:
    assert parse_duration("-30d", signed=True) == -timedelta(days=30)
    assert format_duration(-timedelta(days=30)) == "-30d"


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(days=14), "2w"), (timedelta(hours=36), "36h"), (timedelta(seconds=90), "90s")],
)
def test_format_duration_uses_the_largest_exact_unit(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@pytest.mark.parametrize(
    "cron",
    [
        "0 9 * * MON",
        "*/15 * * * *",
        "0 9-17 * * mon-fri",
        "30 8 1,15 * *",
        "0 0 1 JAN *",
        "0 12 * * 0,7",
        "5/10 * * * *",
    ],
)
def test_cron_accepts(cron: str) -> None:
    assert cron_problems(cron) == []


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("0 9 * *", "5 fields"),
        ("0 9 * * * *", "5 fields"),
        ("60 * * * *", "minute 60 is outside 0-59"),
        ("0 24 * * *", "hour 24 is outside 0-23"),
        ("0 0 0 * *", "day-of-month 0 is outside 1-31"),
        ("0 0 * 13 *", "month 13 is outside 1-12"),
        ("0 0 * * 8", "day-of-week 8 is outside 0-7"),
        ("0 0 * * FUNDAY", "not a number or a known name"),
        ("*/0 * * * *", "step '0' must be a positive number"),
        ("0 17-9 * * *", "runs backwards"),
        ("@daily", "5 fields"),
    ],
)
def test_cron_refuses(cron: str, problem: str) -> None:
    assert any(problem in p for p in cron_problems(cron))
