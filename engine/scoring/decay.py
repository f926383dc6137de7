"""How far a score fades in one decay period: halving, or points per period. Pure."""

from __future__ import annotations

import math

from engine.scoring.spec import HalfLife, PointsPerPeriod


def factor(decay: HalfLife) -> float:
    """Return what one ``every`` period multiplies a score by (0.5 per ``half_life``)."""
    return float(0.5 ** (decay.every / decay.half_life))


def decayed(score: int, decay: HalfLife | PointsPerPeriod, *, floor: int = 0) -> int:
    """Return ``score`` after one period of inactivity; never below ``floor``, never rising.

    A score already at or below the floor (negative points) is left alone: decay forgets
    interest, it does not forgive a disqualifying signal.
    """
    if score <= floor:
        return score
    if isinstance(decay, HalfLife):
        after = math.floor(score * factor(decay))
        after = min(after, score - 1)  # a small score still fades instead of sticking at 1
    else:
        after = score - decay.points
    return max(after, floor)
