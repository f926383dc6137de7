"""A/B significance in closed form: two-proportion z-test and Wilson score intervals.

Pure functions over counts (no I/O, no SciPy): the normal distribution comes from
``math.erf`` and its quantile from a bisection on it, exact to far below display precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_SAMPLE = 30
"""Below this many contacts in a variant (or its control) a comparison says "not enough data"."""


def normal_cdf(z: float) -> float:
    """Return P(Z <= z) for a standard normal Z."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def normal_quantile(p: float) -> float:
    """Return z with ``normal_cdf(z) == p`` for 0 < p < 1; raise ValueError outside."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p}")
    low, high = -40.0, 40.0
    for _ in range(200):
        middle = (low + high) / 2
        if normal_cdf(middle) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Wilson score interval of a proportion as (low, high) in [0, 1].

    Raises ValueError for negative counts or more successes than trials; (0, 1) for no trials.
    """
    _check(successes, trials)
    if trials == 0:
        return 0.0, 1.0
    z = normal_quantile(0.5 + confidence / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_z(
    control_successes: int, control_trials: int, successes: int, trials: int
) -> float | None:
    """Return the pooled two-proportion z statistic (variant minus control).

    None when it is undefined: a group without trials, or no variance (all or none converted).
    """
    _check(control_successes, control_trials)
    _check(successes, trials)
    if control_trials == 0 or trials == 0:
        return None
    pooled = (control_successes + successes) / (control_trials + trials)
    variance = pooled * (1 - pooled) * (1 / control_trials + 1 / trials)
    if variance <= 0:
        return None
    return (successes / trials - control_successes / control_trials) / math.sqrt(variance)


def confidence_of(z: float) -> float:
    """Return the two-sided confidence (1 - p-value) that a z statistic is not chance, 0..1."""
    return 1.0 - 2.0 * (1.0 - normal_cdf(abs(z)))


@dataclass(frozen=True, slots=True)
class Comparison:
    """One variant against the control.

    ``rate`` and ``uplift`` are fractions (0.12 = 12 %); ``uplift`` is relative to the
    control's rate (None when the control converted nobody); ``confidence`` is two-sided,
    0..1, None when the samples are below ``MIN_SAMPLE`` or the z statistic is undefined.
    """

    trials: int
    successes: int
    rate: float | None
    low: float
    high: float
    uplift: float | None
    confidence: float | None
    enough_data: bool


def compare(
    control_successes: int,
    control_trials: int,
    successes: int,
    trials: int,
    *,
    min_sample: int = MIN_SAMPLE,
) -> Comparison:
    """Compare a variant's conversions with the control's: rate, Wilson 95 %, uplift, confidence."""
    low, high = wilson_interval(successes, trials)
    rate = successes / trials if trials else None
    control_rate = control_successes / control_trials if control_trials else None
    uplift = rate / control_rate - 1 if rate is not None and control_rate else None
    enough = trials >= min_sample and control_trials >= min_sample
    z = two_proportion_z(control_successes, control_trials, successes, trials) if enough else None
    return Comparison(
        trials=trials,
        successes=successes,
        rate=rate,
        low=low,
        high=high,
        uplift=uplift,
        confidence=confidence_of(z) if z is not None else None,
        enough_data=enough,
    )


def _check(successes: int, trials: int) -> None:
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
