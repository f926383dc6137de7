"""``branch``: choose the next step by condition (``if``/``then``/``else`` or ordered ``cases``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from engine.journey.actions import Advance, Decision, Finish
from engine.journey.base import Name, SpecModel
from engine.journey.conditions import Condition
from engine.journey.diagnostics import Finding, Path
from engine.journey.steps.base import Exit, PlanContext, StepBase, StepContext


class Case(SpecModel):
    """One ordered case: the first whose ``when`` holds wins."""

    when: Condition
    next: Name


class BranchStep(StepBase):
    """Route on a condition. Exits are ``then``/``else``, never ``yes``/``no`` (YAML 1.1 booleans)."""

    type: Literal["branch"]
    if_: Condition | None = Field(default=None, alias="if")
    then: Name | None = None
    else_: Name | None = Field(default=None, alias="else")
    cases: tuple[Case, ...] | None = None
    default: Name | None = None

    def exits(self) -> Iterator[Exit]:
        """Yield ``then``/``else`` for an ``if`` branch, each case and ``default`` otherwise."""
        if self.cases is None:
            yield Exit(("then",), self.then)
            yield Exit(("else",), self.else_)
        else:  # with cases, stray then/else are E408 but still edges
            yield from (Exit((k,), t) for k, t in (("then", self.then), ("else", self.else_)) if t)
        for i, case in enumerate(self.cases or ()):
            yield Exit(("cases", i, "next"), case.next)
        if self.default is not None:
            yield Exit(("default",), self.default)

    def conditions(self) -> Iterator[tuple[Condition, Path, bool]]:
        """Yield ``if`` or each case's ``when``."""
        if self.if_ is not None:
            yield self.if_, ("if",), False
        for i, case in enumerate(self.cases or ()):
            yield case.when, ("cases", i, "when"), False

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require one form, and a ``default`` for ``cases``."""
        if self.if_ is not None and self.cases is not None:
            yield Finding("E408", path, "a branch uses either 'if' or 'cases', not both")
        elif self.if_ is None and self.cases is None:
            yield Finding("E408", path, "a branch needs 'if' (with then/else) or 'cases'")
        elif self.cases is not None:
            if not self.cases:
                yield Finding("E408", (*path, "cases"), "'cases' needs at least one case")
            if self.default is None:
                yield Finding(
                    "E402",
                    path,
                    "a branch with 'cases' needs a 'default' for contacts no case matches",
                )
            for key, value in (("then", self.then), ("else", self.else_)):
                if value is not None:
                    yield Finding("E408", (*path, key), f"'{key}' belongs to 'if'; use 'default'")
        elif self.default is not None:
            yield Finding("E408", (*path, "default"), "'default' belongs to 'cases'; use 'else'")

    def plan(self, ctx: PlanContext) -> Decision:
        """Take ``then``/``else``, or the first case that holds, else ``default``."""
        if self.cases is None:
            held = self.if_ is not None and ctx.holds(self.if_)
            target, label = (self.then, "then") if held else (self.else_, "else")
            why = f"'if' {'holds' if held else 'does not hold'}: {label} → {target}"
        else:
            target, why = self.default, f"no case holds: default → {self.default}"
            for i, case in enumerate(self.cases):
                if ctx.holds(case.when):
                    target, why = case.next, f"case {i + 1} holds → {case.next}"
                    break
        if target is None:
            return Finish("no_next_step", f"branch has no exit for this contact ({why})")
        return Advance(target, why=why, what="branch")
