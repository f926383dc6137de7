"""The A/B maths against values worked out by hand from the closed forms."""

from __future__ import annotations

import math

import pytest

from engine.stats.ab import (
    compare,
    confidence_of,
    normal_cdf,
    normal_quantile,
    two_proportion_z,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("z", "p"), [(0.0, 0.5), (1.959963985, 0.975), (-1.0, 0.158655254), (2.575829304, 0.995)]
)
def test_normal_cdf_matches_tables(z: float, p: float) -> None:
    assert normal_cdf(z) == pytest.approx(p, abs=1e-9)


@pytest.mark.parametrize("p", [0.025, 0.5, 0.9, 0.995])
def test_quantile_inverts_cdf(p: float) -> None:
    assert normal_cdf(normal_quantile(p)) == pytest.approx(p, abs=1e-12)


def test_quantile_refuses_zero_and_one() -> None:
    with pytest.raises(ValueError, match="strictly between"):
        normal_quantile(1.0)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [(10, 100, 0.0552291, 0.1743657), (0, 10, 0.0, 0.2775328), (50, 50, 0.9286524, 1.0)],
)
def test_wilson_interval_known_values(successes: int, trials: int, low: float, high: float) -> None:
    found = wilson_interval(successes, trials)
    assert found == pytest.approx((low, high), abs=1e-6)


def test_wilson_without_trials_is_everything_and_bad_counts_raise() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="successes <= trials"):
        wilson_interval(5, 3)


def test_two_proportion_z_by_hand() -> None:
    # pooled 0.225; se = sqrt(0.225 * 0.775 * (2 / 1000)) = 0.0186748; z = 0.05 / se
    z = two_proportion_z(200, 1000, 250, 1000)
    assert z == pytest.approx(0.05 / math.sqrt(0.225 * 0.775 * 0.002))
    assert z == pytest.approx(2.677398, abs=1e-6)
    assert two_proportion_z(250, 1000, 200, 1000) == pytest.approx(-2.677398, abs=1e-6)
    assert two_proportion_z(0, 100, 0, 100) is None
    assert two_proportion_z(0, 0, 3, 10) is None


def test_confidence_is_two_sided() -> None:
    assert confidence_of(1.959963985) == pytest.approx(0.95, abs=1e-9)
    assert confidence_of(-1.959963985) == pytest.approx(0.95, abs=1e-9)
    assert confidence_of(0.0) == 0.0


def test_compare_reports_uplift_and_confidence() -> None:
    result = compare(200, 1000, 250, 1000)
    assert result.rate == 0.25 and result.enough_data
    assert result.uplift == pytest.approx(0.25)
    assert result.confidence == pytest.approx(0.992580, abs=1e-5)
    assert result.low < 0.25 < result.high


def test_compare_says_not_enough_data_below_minimum() -> None:
    result = compare(1, 10, 5, 10)
    assert not result.enough_data and result.confidence is None
    assert result.uplift == pytest.approx(4.0)
    assert compare(0, 40, 4, 40).uplift is None
