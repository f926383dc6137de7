"""``goal`` (record that a goal was reached) and ``exit`` (leave the journey)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from engine.journey.actions import Advance, Decision, Finish, ReachGoal
from engine.journey.base import Name
from engine.journey.diagnostics import Finding, Path, did_you_mean
from engine.journey.steps.base import Exit, PlanContext, StepBase, StepContext


class GoalStep(StepBase):
    """Mark a declared goal as reached and carry on."""

    type: Literal["goal"]
    id: Name
    next: Name | None = None

    def exits(self) -> Iterator[Exit]:
        """Yield ``next``."""
        yield Exit(("next",), self.next)

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require the goal to be declared under ``goals``."""
        if ctx.goal_ids is not None and self.id not in ctx.goal_ids:
            yield Finding(
                "E209",
                (*path, "id"),
                f"unknown goal '{self.id}'{did_you_mean(self.id, ctx.goal_ids)}; "
                "declare it under 'goals'",
            )

    def plan(self, ctx: PlanContext) -> Decision:
        """Record the goal (once per enrollment) and carry on at ``next``."""
        if self.next is None:
            return Finish("no_next_step", "goal step has no 'next'")
        if self.id in ctx.state.goals:
            return Advance(self.next, why=f"goal '{self.id}' already reached", what="goal")
        action = ReachGoal(self.id, ctx.step_id, f"{ctx.state.enrollment_id}:goal:{self.id}")
        return Advance(self.next, (action,), f"goal '{self.id}' reached", "goal")


class ExitStep(StepBase):
    """Leave the journey; every path must end at one."""

    terminal: ClassVar[bool] = True

    type: Literal["exit"]
    reason: str | None = None

    def plan(self, ctx: PlanContext) -> Decision:
        """End the enrollment with this step's reason (``completed`` when none is given)."""
        reason = self.reason or "completed"
        return Finish(reason, f"exit step: {reason}")
