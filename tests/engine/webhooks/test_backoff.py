"""What an attempt's outcome means next, and when the next attempt comes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.webhooks.delivery import MAX_ATTEMPTS, MAX_RETRY, retry_delay, verdict_for


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (301, "dead"),
        (400, "dead"),
        (401, "dead"),
        (404, "dead"),
        (408, "retry"),
        (410, "dead"),
        (422, "dead"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
    ],
)
def test_verdicts(status: int, verdict: str):
    assert verdict_for(status) == verdict


@pytest.mark.parametrize(
    ("attempt", "seconds"),
    [(1, 30), (2, 60), (3, 120), (6, 960), (10, 15_360), (11, 28_800), (12, 28_800)],
)
def test_delays_double_from_30_seconds_up_to_the_cap(attempt: int, seconds: int):
    assert retry_delay(attempt, jitter=0.5) == timedelta(seconds=seconds)


def test_jitter_spreads_a_delay_by_a_fifth_either_way():
    assert retry_delay(1, jitter=0.0) == timedelta(seconds=24)
    assert retry_delay(1, jitter=0.999) < timedelta(seconds=36)
    assert retry_delay(40, jitter=0.999) < MAX_RETRY * 1.2


def test_the_whole_schedule_spans_about_a_day():
    total = sum((retry_delay(n, jitter=0.5) for n in range(1, MAX_ATTEMPTS)), timedelta())
    assert timedelta(hours=20) < total < timedelta(hours=28)
