"""What every step kind shares: exits, error policy, and the hooks validation calls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, ClassVar, NamedTuple

from pydantic import Field, StringConstraints

from engine.journey.base import Name, SpecModel
from engine.journey.catalog import Catalog
from engine.journey.conditions import Condition
from engine.journey.diagnostics import Finding, Path
from engine.journey.durations import Duration

STEP_ID_PATTERN = r"^[a-z][a-z0-9_\-]{0,63}$"
StepId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN)]
"""A step name: lower case, digits, ``_`` and ``-``; at most 64 characters."""


class Exit(NamedTuple):
    """An edge out of a step; ``target`` is None when a required exit is missing."""

    path: Path
    target: str | None


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a step's own checks may consult; ``goal_ids`` is None when unknown."""

    step_names: frozenset[str]
    catalog: Catalog
    goal_ids: frozenset[str] | None = None


class StepBase(SpecModel):
    """A node of the journey graph."""

    waits: ClassVar[bool] = False
    """True for steps that pause the contact; any cycle must contain one."""
    terminal: ClassVar[bool] = False
    """True for steps with no way out (``exit``)."""

    type: str
    description: str | None = None

    def exits(self) -> Iterator[Exit]:
        """Yield the step's outgoing edges."""
        return iter(())

    def conditions(self) -> Iterator[tuple[Condition, Path, bool]]:
        """Yield each condition root, its path in the step, and whether ``prop`` applies."""
        return iter(())

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Yield this kind's own semantic findings (references, weights, required options)."""
        return iter(())

    def delay(self) -> timedelta | None:
        """Return the longest time a contact can spend here (None: unbounded or unknown)."""
        return timedelta(0)


class OnError(SpecModel):
    """What to do when an action fails: retry with backoff, then continue, exit or jump."""

    retry: Annotated[int, Field(ge=0, le=10)] = 0
    backoff: Duration | None = None
    then: Name = "exit"


class ActionStep(StepBase):
    """A step that does something and moves on to ``next``."""

    next: Name | None = None
    on_error: OnError | None = None

    def exits(self) -> Iterator[Exit]:
        """Yield ``next`` and, when it names a step, ``on_error.then``."""
        yield Exit(("next",), self.next)
        if self.on_error is not None and self.on_error.then not in ("continue", "exit"):
            yield Exit(("on_error", "then"), self.on_error.then)
