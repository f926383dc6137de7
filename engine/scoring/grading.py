"""The fit grade (A–D) from contact attributes, and the MQL test. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.scoring.rules import passes, value_at
from engine.scoring.spec import GRADES, Grade, GradeSpec, Mql


def fit_points(spec: GradeSpec, attributes: Mapping[str, Any]) -> int:
    """Return the sum of the points of every grade rule the attributes pass."""
    return sum(r.points for r in spec.rules if passes(r, value_at(attributes, r.attr)))


def grade_for(spec: GradeSpec, attributes: Mapping[str, Any]) -> Grade:
    """Return the grade the attributes earn: the best whose threshold the points reach."""
    points = fit_points(spec, attributes)
    t = spec.thresholds
    if points >= t.A:
        return "A"
    if points >= t.B:
        return "B"
    if points >= t.C:
        return "C"
    return "D"


def at_least(grade: str | None, wanted: Grade) -> bool:
    """Say whether ``grade`` is ``wanted`` or better; no grade is never good enough."""
    return grade in GRADES and GRADES.index(grade) <= GRADES.index(wanted)


def qualifies(mql: Mql, score: int, grade: str | None) -> bool:
    """Say whether a score and grade meet the MQL rule."""
    if score < mql.score_at_least:
        return False
    return mql.grade_at_least is None or at_least(grade, mql.grade_at_least)
