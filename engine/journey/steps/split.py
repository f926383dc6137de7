"""``split``: send contacts down weighted random paths (A/B tests, holdouts)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Annotated, Literal

from pydantic import Field

from engine.journey.actions import Advance, Decision
from engine.journey.base import Name, SpecModel
from engine.journey.diagnostics import Finding, Path, did_you_mean
from engine.journey.durations import Duration
from engine.journey.steps.base import Exit, PlanContext, StepBase, StepContext

Weight = Annotated[float, Field(ge=0, le=100)]
"""A percentage; the weights of one split add up to 100."""


class SplitPath(SpecModel):
    """One path of a split."""

    name: Name
    weight: Weight
    next: Name


class Experiment(SpecModel):
    """Measure the paths against a journey goal over a window, optionally picking a winner."""

    goal: Name
    window: Duration
    pick_winner: bool = False


class SplitStep(StepBase):
    """Pick a path at random by weight; ``sticky: contact`` keeps a contact on one path."""

    type: Literal["split"]
    paths: tuple[SplitPath, ...]
    sticky: Literal["contact"] | None = None
    experiment: Experiment | None = None

    def exits(self) -> Iterator[Exit]:
        """Yield each path's ``next``."""
        for i, path in enumerate(self.paths):
            yield Exit(("paths", i, "next"), path.next)

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Check weights, path names and the experiment's goal."""
        if len(self.paths) < 2:
            yield Finding("E408", (*path, "paths"), "a split needs at least two paths")
        yield from weights_sum_to_100([p.weight for p in self.paths], (*path, "paths"))
        yield from unique_names([p.name for p in self.paths], (*path, "paths"), "name")
        goal_ids = ctx.goal_ids
        if self.experiment is not None and goal_ids is not None:
            goal = self.experiment.goal
            if goal not in goal_ids:
                yield Finding(
                    "E209",
                    (*path, "experiment", "goal"),
                    f"unknown goal '{goal}'{did_you_mean(goal, goal_ids)}; declare it under 'goals'",
                )

    def plan(self, ctx: PlanContext) -> Decision:
        """Keep the path assigned earlier, else pick one by weight from a sticky hash."""
        by_name = {p.name: p for p in self.paths}
        earlier = ctx.state.assignments.get(ctx.step_id)
        if earlier in by_name:
            chosen = by_name[earlier]
            why = f"path '{chosen.name}' (assigned earlier) → {chosen.next}"
        else:
            bucket = ctx.bucket(ctx.step_id, per_contact=self.sticky == "contact")
            chosen = self.paths[choose(bucket, [p.weight for p in self.paths])]
            why = f"path '{chosen.name}' (bucket {bucket:.2f} of 100) → {chosen.next}"
        return Advance(chosen.next, why=why, what="split", assign=chosen.name)


def sticky_bucket(journey_id: str, salt: str, key: str) -> float:
    """Return a uniform number in [0, 100) from SHA-256 of journey id, salt and key.

    The same ``(journey, step, contact)`` always lands in the same bucket, on any
    machine and in any version of the journey.
    """
    digest = hashlib.sha256("\x1f".join((journey_id, salt, key)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def choose(bucket: float, weights: Sequence[float]) -> int:
    """Return the index whose cumulative weight band ``[low, high)`` holds ``bucket``."""
    total = 0.0
    last = 0
    for i, weight in enumerate(weights):
        if weight <= 0:
            continue
        total += weight
        last = i
        if bucket < total:
            return i
    return last  # rounding left the top sliver unassigned: give it to the last live path


def weights_sum_to_100(weights: list[float], path: Path) -> Iterator[Finding]:
    """Yield E401 unless the weights add up to 100."""
    if weights and abs(sum(weights) - 100) > 1e-6:
        yield Finding("E401", path, f"weights add up to {sum(weights):g}, not 100")


def unique_names(names: list[str], path: Path, key: str) -> Iterator[Finding]:
    """Yield E113 for each repeated name in a list."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield Finding("E113", (*path, i, key), f"'{name}' is used twice")
        seen.add(name)
