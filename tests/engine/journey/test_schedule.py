"""Local-time arithmetic: zones, DST gaps and overlaps, send windows, quiet hours, wait targets."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.journey import schedule
from engine.journey.spec import QuietHours, SendWindow, TimezonePolicy
from engine.journey.times import WEEKDAYS

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
LONDON = ZoneInfo("Europe/London")
ZONES = [NY, TOKYO, LONDON, ZoneInfo("UTC"), ZoneInfo("Australia/Sydney"), ZoneInfo("Asia/Kolkata")]


def z(text: str) -> datetime:
    """Parse an ISO instant with its offset, as UTC."""
    return datetime.fromisoformat(text).astimezone(UTC)


def window(
    days: str = "mon tue wed thu fri", start: str = "08:00", end: str = "18:00"
) -> SendWindow:
    return SendWindow.model_validate({"days": days.split(), "start": start, "end": end})


def quiet(start: str = "21:00", end: str = "08:00", on_quiet: str = "defer") -> QuietHours:
    return QuietHours.model_validate({"start": start, "end": end, "on_quiet": on_quiet})


# --- time zones ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"timezone": "Asia/Tokyo"}, "Asia/Tokyo"),
        ({"timezone": "Mars/Olympus"}, "America/New_York"),
        ({"timezone": "+09:00"}, "America/New_York"),
        ({"timezone": None}, "America/New_York"),
        ({"timezone": 9}, "America/New_York"),
        ({}, "America/New_York"),
    ],
)
def test_contact_zone_reads_the_attribute_with_an_iana_fallback(
    attributes: dict[str, object], expected: str
) -> None:
    policy = TimezonePolicy.model_validate(
        {"attribute": "timezone", "fallback": "America/New_York"}
    )

    assert schedule.contact_zone(policy, attributes).key == expected


def test_contact_zone_follows_a_dotted_attribute() -> None:
    policy = TimezonePolicy.model_validate({"attribute": "account.timezone", "fallback": "UTC"})

    zone = schedule.contact_zone(policy, {"account": {"timezone": "Asia/Tokyo"}})

    assert zone.key == "Asia/Tokyo"


# --- wall clock to instant ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("naive", "zone", "expected"),
    [
        # an ordinary winter and summer morning in New York
        ("2026-01-15T09:00", NY, "2026-01-15T14:00Z"),
        ("2026-07-15T09:00", NY, "2026-07-15T13:00Z"),
        # spring forward: 02:00-03:00 does not exist; 02:30 is the moment clocks jump
        ("2026-03-08T02:30", NY, "2026-03-08T07:00Z"),
        ("2026-03-08T02:00", NY, "2026-03-08T07:00Z"),
        ("2026-03-08T03:00", NY, "2026-03-08T07:00Z"),
        ("2026-03-08T01:59", NY, "2026-03-08T06:59Z"),
        # fall back: 01:00-02:00 happens twice; the first occurrence (EDT) wins
        ("2026-11-01T01:30", NY, "2026-11-01T05:30Z"),
        ("2026-11-01T02:00", NY, "2026-11-01T07:00Z"),
        # Tokyo has no DST: the same dates are ordinary
        ("2026-03-08T02:30", TOKYO, "2026-03-07T17:30Z"),
        ("2026-11-01T01:30", TOKYO, "2026-10-31T16:30Z"),
        # London springs forward at 01:00 on 2026-03-29
        ("2026-03-29T01:30", LONDON, "2026-03-29T01:00Z"),
    ],
)
def test_localize_resolves_gaps_forward_and_overlaps_to_the_first(
    naive: str, zone: ZoneInfo, expected: str
) -> None:
    assert schedule.localize(datetime.fromisoformat(naive), zone) == z(
        expected.replace("Z", "+00:00")
    )


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
def test_tokyo_never_changes_its_offset(moment: datetime) -> None:
    assert moment.replace(tzinfo=TOKYO).utcoffset() == timedelta(hours=9)
    assert schedule.localize(moment, TOKYO) == (moment - timedelta(hours=9)).replace(tzinfo=UTC)


@settings(max_examples=300)
@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)),
    st.sampled_from(ZONES),
)
def test_localize_is_the_earliest_instant_reading_that_time_or_later(
    naive: datetime, zone: ZoneInfo
) -> None:
    moment = schedule.localize(naive, zone)

    assert moment.tzinfo == UTC
    assert schedule.wall(moment, zone) >= naive
    assert schedule.wall(moment - timedelta(microseconds=1), zone) < naive


@settings(max_examples=300)
@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(ZONES),
)
def test_localize_of_a_wall_reading_never_lands_after_the_instant(
    moment: datetime, zone: ZoneInfo
) -> None:
    back = schedule.localize(schedule.wall(moment, zone), zone)

    assert back <= moment
    assert schedule.wall(back, zone) == schedule.wall(moment, zone)


# --- quiet hours and send windows ------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "start", "end", "expected"),
    [
        ("2026-06-15T22:00", "21:00", "08:00", True),
        ("2026-06-15T03:00", "21:00", "08:00", True),
        ("2026-06-15T07:59", "21:00", "08:00", True),
        ("2026-06-15T08:00", "21:00", "08:00", False),
        ("2026-06-15T20:59", "21:00", "08:00", False),
        ("2026-06-15T21:00", "21:00", "08:00", True),
        ("2026-06-15T13:00", "12:00", "14:00", True),
        ("2026-06-15T14:00", "12:00", "14:00", False),
        ("2026-06-15T12:00", "12:00", "12:00", False),
    ],
)
def test_quiet_hours_may_wrap_midnight(local: str, start: str, end: str, expected: bool) -> None:
    moment = schedule.localize(datetime.fromisoformat(local), TOKYO)

    assert schedule.in_quiet_hours(moment, TOKYO, quiet(start, end)) is expected


@pytest.mark.parametrize(
    ("now", "zone", "rules", "expected"),
    [
        # inside the window: now
        ("2026-06-15T10:00-04:00", NY, (window(), None), "2026-06-15T10:00-04:00"),
        # Saturday: Monday at the opening
        ("2026-06-13T10:00-04:00", NY, (window(), None), "2026-06-15T08:00-04:00"),
        # Friday at 18:00 exactly: the window is [start, end), so Monday
        ("2026-06-12T18:00-04:00", NY, (window(), None), "2026-06-15T08:00-04:00"),
        # before the opening on a weekday: later the same day
        ("2026-06-15T06:30-04:00", NY, (window(), None), "2026-06-15T08:00-04:00"),
        # Tokyo weekday evening: next morning, in Tokyo time
        ("2026-06-15T19:00+09:00", TOKYO, (window(start="09:00"), None), "2026-06-16T09:00+09:00"),
        # quiet hours only, wrapping midnight: their end
        ("2026-06-15T22:00+09:00", TOKYO, (None, quiet()), "2026-06-16T08:00+09:00"),
        ("2026-06-16T02:00+09:00", TOKYO, (None, quiet()), "2026-06-16T08:00+09:00"),
        # a window that opens inside quiet hours: when the quiet hours end
        (
            "2026-06-15T05:00+09:00",
            TOKYO,
            (window(start="07:00", end="12:00"), quiet()),
            "2026-06-15T08:00+09:00",
        ),
        # the window opening 02:30 does not exist on 2026-03-08 in New York: 03:00 EDT
        (
            "2026-03-08T00:00-05:00",
            NY,
            (window(days="sun", start="02:30", end="05:00"), None),
            "2026-03-08T03:00-04:00",
        ),
        # Friday evening before spring forward: Monday 08:00 is EDT
        ("2026-03-06T19:00-05:00", NY, (window(), None), "2026-03-09T08:00-04:00"),
        # Friday evening before fall back: Monday 08:00 is EST
        ("2026-10-30T19:00-04:00", NY, (window(), None), "2026-11-02T08:00-05:00"),
    ],
)
def test_next_send_time(
    now: str, zone: ZoneInfo, rules: tuple[SendWindow | None, QuietHours | None], expected: str
) -> None:
    assert schedule.next_send_time(z(now), zone, *rules) == z(expected)


def test_a_window_swallowed_by_quiet_hours_never_opens() -> None:
    rules = (window(start="22:00", end="23:00"), quiet())

    assert schedule.next_send_time(z("2026-06-15T10:00+09:00"), TOKYO, *rules) is None


def test_fall_back_reopens_a_window_when_the_clock_returns_into_it() -> None:
    # window 00:30-01:45 on Sunday 2026-11-01: shut at 01:45 EDT, open again when the clocks
    # go back from 02:00 EDT to 01:00 EST (a moment no window start or quiet end names)
    rules = (window(days="sun", start="00:30", end="01:45"), None)

    found = schedule.next_send_time(z("2026-11-01T01:50-04:00"), NY, *rules)

    assert found == z("2026-11-01T01:00-05:00")


@st.composite
def send_rules(draw: st.DrawFn) -> tuple[SendWindow | None, QuietHours | None]:
    minutes = st.integers(0, 24 * 60 - 1)
    use_window, use_quiet = draw(st.booleans()), draw(st.booleans())
    rules_window = None
    if use_window or not use_quiet:
        a, b = sorted(draw(st.lists(minutes, min_size=2, max_size=2, unique=True)))
        days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
        rules_window = SendWindow(days=tuple(days), start=_clock(a), end=_clock(b))
    rules_quiet = None
    if use_quiet:
        a, b = draw(minutes), draw(minutes)
        rules_quiet = QuietHours(start=_clock(a), end=_clock(b))
    return rules_window, rules_quiet


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(ZONES),
    send_rules(),
)
def test_next_send_time_is_the_first_allowed_instant(
    now: datetime, zone: ZoneInfo, rules: tuple[SendWindow | None, QuietHours | None]
) -> None:
    found = schedule.next_send_time(now, zone, *rules)

    if found is None:
        assert rules[1] is not None  # only quiet hours can swallow a whole window
        return
    assert found >= now
    assert schedule.may_send(found, zone, *rules)
    if rules[1] is None:
        assert found - now <= timedelta(days=7, hours=1)  # +1h: a DST change in between
    if found > now:
        assert not schedule.may_send(found - timedelta(microseconds=1), zone, *rules)
        probe = now
        while probe < found:
            assert not schedule.may_send(probe, zone, *rules)
            probe += timedelta(minutes=20)


# --- wait targets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "zone", "expected"),
    [
        # whole days keep the local clock across spring forward and fall back
        ("2026-03-07T09:00-05:00", timedelta(days=1), NY, "2026-03-08T09:00-04:00"),
        ("2026-10-31T09:00-04:00", timedelta(days=2), NY, "2026-11-02T09:00-05:00"),
        ("2026-03-06T09:00-05:00", timedelta(weeks=1), NY, "2026-03-13T09:00-04:00"),
        # anything else is elapsed time
        ("2026-03-07T09:00-05:00", timedelta(hours=36), NY, "2026-03-08T22:00-04:00"),
        ("2026-03-07T22:00-05:00", timedelta(hours=4), NY, "2026-03-08T03:00-04:00"),
        ("2026-03-07T09:00+09:00", timedelta(days=1), TOKYO, "2026-03-08T09:00+09:00"),
    ],
)
def test_after(start: str, duration: timedelta, zone: ZoneInfo, expected: str) -> None:
    assert schedule.after(z(start), duration, zone) == z(expected)


@settings(max_examples=500)
@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ).map(lambda moment: moment.replace(second=0, microsecond=0)),
    st.sampled_from([1, 2, 7, 30, 365, -1]).map(lambda days: timedelta(days=days)),
    st.sampled_from([*ZONES, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Europe/Dublin")]),
)
def test_after_whole_days_is_the_local_calendar_moved_then_localized(
    start: datetime, duration: timedelta, zone: ZoneInfo
) -> None:
    """The shortcut for a wall time naming one instant agrees with the definition everywhere,
    including starts whose new day falls in a DST gap or overlap (half-hour DST included)."""
    expected = schedule.localize(schedule.wall(start, zone) + duration, zone)

    moved = schedule.after(start, duration, zone)

    assert moved == expected
    assert moved.tzinfo == UTC


@pytest.mark.parametrize(
    ("start", "zone", "expected"),
    [
        # the day after lands in the fall-back overlap: the first of the two 01:30s
        ("2026-10-31T01:30-04:00", NY, "2026-11-01T01:30-04:00"),
        # ... and from the second 01:30 too
        ("2026-11-01T01:30-05:00", NY, "2026-11-02T01:30-05:00"),
        # the day after lands in the spring-forward gap: the first instant after it
        ("2026-03-07T02:30-05:00", NY, "2026-03-08T03:00-04:00"),
    ],
)
def test_after_a_day_into_a_dst_gap_or_overlap(start: str, zone: ZoneInfo, expected: str) -> None:
    assert schedule.after(z(start), timedelta(days=1), zone) == z(expected)


@pytest.mark.parametrize(
    ("value", "offset", "at", "zone", "expected"),
    [
        ("2026-05-15", timedelta(days=-7), time(9), TOKYO, "2026-05-08T09:00+09:00"),
        ("2026-05-15", timedelta(days=-1), time(9), NY, "2026-05-14T09:00-04:00"),
        ("2026-03-15", timedelta(days=-7), time(9), NY, "2026-03-08T09:00-04:00"),
        ("2026-03-15", timedelta(0), None, NY, "2026-03-15T00:00-04:00"),
        (date(2026, 5, 15), timedelta(hours=-12), None, TOKYO, "2026-05-14T12:00+09:00"),
        ("2026-05-15T03:00:00+00:00", timedelta(days=-1), None, TOKYO, "2026-05-14T12:00+09:00"),
        ("2026-05-15T03:00:00+00:00", timedelta(0), time(9), TOKYO, "2026-05-15T09:00+09:00"),
    ],
)
def test_date_anchor(
    value: object, offset: timedelta, at: time | None, zone: ZoneInfo, expected: str
) -> None:
    assert schedule.date_anchor(value, offset, at, zone) == z(expected)


@pytest.mark.parametrize("value", [None, "", "soon", 20260515, "2026-13-01", ["2026-05-15"]])
def test_date_anchor_of_a_non_date_is_none(value: object) -> None:
    assert schedule.date_anchor(value, timedelta(0), None, TOKYO) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2026, 12, 24), "2026-12-24T00:00+09:00"),
        (datetime(2026, 12, 24, 9, 0), "2026-12-24T09:00+09:00"),
        (datetime(2026, 12, 24, 9, 0, tzinfo=UTC), "2026-12-24T09:00+00:00"),
    ],
)
def test_instant_reads_dates_and_naive_times_in_the_contact_zone(
    value: date | datetime, expected: str
) -> None:
    assert schedule.instant(value, TOKYO) == z(expected)


@pytest.mark.parametrize(
    ("moment", "at", "days", "zone", "expected"),
    [
        ("2026-06-15T10:00-04:00", time(9), None, NY, "2026-06-16T09:00-04:00"),
        ("2026-06-15T08:00-04:00", time(9), None, NY, "2026-06-15T09:00-04:00"),
        ("2026-06-13T10:00-04:00", time(9), ("mon",), NY, "2026-06-15T09:00-04:00"),
        ("2026-06-13T10:00-04:00", None, ("mon", "tue"), NY, "2026-06-15T00:00-04:00"),
        ("2026-06-15T10:00-04:00", None, ("mon",), NY, "2026-06-15T10:00-04:00"),
        ("2026-06-15T10:00-04:00", None, None, NY, "2026-06-15T10:00-04:00"),
        ("2026-03-07T10:00-05:00", time(2, 30), ("sun",), NY, "2026-03-08T03:00-04:00"),
        ("2026-06-15T10:00+09:00", time(9), ("sat", "sun"), TOKYO, "2026-06-20T09:00+09:00"),
    ],
)
def test_align(
    moment: str, at: time | None, days: tuple[str, ...] | None, zone: ZoneInfo, expected: str
) -> None:
    assert schedule.align(z(moment), zone, at, days) == z(expected)


@settings(max_examples=200)
@given(
    st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(ZONES),
    st.integers(0, 24 * 60 - 1).map(_clock),
    st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True),
)
def test_align_lands_on_an_allowed_day_at_the_time(
    moment: datetime, zone: ZoneInfo, at: time, days: list[str]
) -> None:
    found = schedule.align(moment, zone, at, days)
    local = schedule.wall(found, zone)

    assert moment <= found <= moment + timedelta(days=7, hours=1)
    assert WEEKDAYS[local.weekday()] in days
    assert local.time() >= at  # later only inside a spring-forward gap
    assert local - datetime.combine(local.date(), at) <= timedelta(hours=1)
