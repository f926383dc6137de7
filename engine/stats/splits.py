"""A/B results of a journey version: per split path, who took it and who reached the goal.

Counted from step runs in two grouped queries, and compared with the first path (the
control) by the closed-form statistics of :mod:`engine.stats.ab`. The journey page and
``GET /api/journeys/{id}/ab`` show the same figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from engine.journey import JourneySpec
from engine.journey.steps.split import SplitStep
from engine.stats.ab import Comparison, compare
from engine.store.models import Enrollment, StepRun

GOAL_PREFIX = "goal:"


@dataclass(frozen=True, slots=True)
class VariantResult:
    """One path of a split: who took it, how many reached the goal, against the first path."""

    name: str
    weight: float
    entered: int
    conversions: int
    comparison: Comparison
    control: bool


@dataclass(frozen=True, slots=True)
class SplitResult:
    """A split step's paths measured against one goal (the experiment's, else the first)."""

    step: str
    goal: str | None
    variants: tuple[VariantResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """The split as JSON-ready values."""
        return asdict(self)


def ab_results(
    session: Session, journey_id: str, version: int, spec: JourneySpec
) -> list[SplitResult]:
    """Measure every split of one version: per path, enrollments that ran its first step and,
    of those, how many reached the goal (a step run ``goal:<id>``); two grouped queries."""
    splits = [(sid, s) for sid, s in spec.steps.items() if isinstance(s, SplitStep)]
    if not splits:
        return []
    firsts = {p.next for _, s in splits for p in s.paths}
    goals = {g for _, s in splits if (g := _goal_of(s, spec)) is not None}
    of_version = and_(Enrollment.journey_id == journey_id, Enrollment.version == version)
    entered: dict[str, int] = {
        step: count
        for step, count in session.execute(
            select(StepRun.step, func.count(func.distinct(StepRun.enrollment_id)))
            .join(Enrollment, Enrollment.id == StepRun.enrollment_id)
            .where(of_version, StepRun.step.in_(firsts))
            .group_by(StepRun.step)
        )
    }
    reached = aliased(StepRun)
    converted: dict[tuple[str, str], int] = {
        (first, goal_step.removeprefix(GOAL_PREFIX)): count
        for first, goal_step, count in session.execute(
            select(StepRun.step, reached.step, func.count(func.distinct(StepRun.enrollment_id)))
            .join(Enrollment, Enrollment.id == StepRun.enrollment_id)
            .join(reached, reached.enrollment_id == StepRun.enrollment_id)
            .where(
                of_version,
                StepRun.step.in_(firsts),
                reached.step.in_([GOAL_PREFIX + g for g in goals]),
            )
            .group_by(StepRun.step, reached.step)
        )
    }
    results = []
    for step_id, split in splits:
        goal = _goal_of(split, spec)
        control = split.paths[0].next
        c_in, c_won = entered.get(control, 0), converted.get((control, goal or ""), 0)
        variants = tuple(
            VariantResult(
                name=path.name,
                weight=path.weight,
                entered=entered.get(path.next, 0),
                conversions=converted.get((path.next, goal or ""), 0),
                comparison=compare(c_won, c_in, *_won_of(entered, converted, path.next, goal)),
                control=index == 0,
            )
            for index, path in enumerate(split.paths)
        )
        results.append(SplitResult(step=step_id, goal=goal, variants=variants))
    return results


def _won_of(
    entered: dict[str, int], converted: dict[tuple[str, str], int], first: str, goal: str | None
) -> tuple[int, int]:
    return converted.get((first, goal or ""), 0), entered.get(first, 0)


def _goal_of(split: SplitStep, spec: JourneySpec) -> str | None:
    if split.experiment is not None:
        return split.experiment.goal
    return spec.goals[0].id if spec.goals else None
