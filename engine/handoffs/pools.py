"""Who in a pool can take a lead today, and which territory a lead falls in. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from engine.scoring.rules import passes, value_at
from engine.scoring.spec import Away, Territory


def available(email: str, away: Mapping[str, Away], day: date) -> bool:
    """Say whether a rep is not out of office on ``day`` (the dates are inclusive)."""
    absence = away.get(email)
    return absence is None or not absence.start <= day <= absence.until


def present(emails: Iterable[str], away: Mapping[str, Away], day: date) -> list[str]:
    """Return the reps of ``emails`` not away on ``day``, in the order given."""
    return [e for e in emails if available(e, away, day)]


def territory_for(
    territories: Sequence[Territory], attributes: Mapping[str, Any]
) -> Territory | None:
    """Return the first territory whose every test the lead's attributes pass."""
    for territory in territories:
        if all(passes(m, value_at(attributes, path)) for path, m in territory.when.items()):
            return territory
    return None


def turn(members: Sequence[int], turns: int) -> int | None:
    """Return whose turn it is after ``turns`` turns (1-based) of a round robin, or None."""
    return members[(turns - 1) % len(members)] if members else None
