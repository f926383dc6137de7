"""``goal`` (record that a goal was reached) and ``exit`` (leave the journey)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from engine.journey.base import Name
from engine.journey.diagnostics import Finding, Path, did_you_mean
from engine.journey.steps.base import Exit, StepBase, StepContext


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


class ExitStep(StepBase):
    """Leave the journey; every path must end at one."""

    terminal: ClassVar[bool] = True

    type: Literal["exit"]
    reason: str | None = None
