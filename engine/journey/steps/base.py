"""What every step kind shares: exits, error policy, and the hooks validation calls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from pydantic import Field, StringConstraints

from engine.journey.actions import Action, Advance, CapPolicy, Decision, Finish, SendTiming
from engine.journey.base import Name, SpecModel
from engine.journey.catalog import Catalog
from engine.journey.conditions import Condition
from engine.journey.contact_view import ContactView, EventRecord
from engine.journey.diagnostics import Finding, Path
from engine.journey.durations import Duration
from engine.journey.state import EnrollmentState

if TYPE_CHECKING:
    from engine.journey.spec import SendEmailDefaults
    from engine.journey.steps.send_email import Respect

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


class PlanContext(Protocol):
    """What a step may consult while the planner runs it (the planner implements this).

    ``now`` is the time of the call, never the clock. ``contact`` already carries the
    enrollment's entry, the incoming event and the effects of earlier steps in this
    call; ``state`` has this visit counted. ``resuming`` is True when the step started
    in an earlier call (a wait waking up, a deferred send going out).
    """

    @property
    def now(self) -> datetime: ...
    @property
    def step_id(self) -> str: ...
    @property
    def state(self) -> EnrollmentState: ...
    @property
    def contact(self) -> ContactView: ...
    @property
    def event(self) -> EventRecord | None: ...
    @property
    def zone(self) -> ZoneInfo: ...
    @property
    def resuming(self) -> bool: ...
    @property
    def idempotency_key(self) -> str: ...
    @property
    def email_defaults(self) -> SendEmailDefaults | None: ...

    def holds(self, condition: Condition, event: EventRecord | None = None) -> bool:
        """Evaluate a condition of this journey (compiled once) for the contact at ``now``."""
        ...

    def resolve(self, value: Any) -> Any:
        """Replace ``{ref: entry.…|contact.…}`` values (also in tuples) by their values (or None)."""
        ...

    def bucket(self, salt: str, *, per_contact: bool) -> float:
        """Return a sticky uniform number in [0, 100) for this contact (or enrollment)."""
        ...

    def send_timing(self, respect: Respect) -> SendTiming:
        """Say whether a send may leave now, must wait (until when) or is skipped."""
        ...

    def frequency_cap(self, respect: Respect) -> CapPolicy | None:
        """Return the journey's cap policy to attach to a send, if the send respects one."""
        ...


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

    def plan(self, ctx: PlanContext) -> Decision:
        """Decide what this step does for one contact now: advance, hold or finish."""
        raise NotImplementedError(f"step type '{self.type}' cannot be planned")


class OnError(SpecModel):
    """What to do when an action fails: retry with backoff, then continue, exit or jump."""

    retry: Annotated[int, Field(ge=0, le=10)] = 0
    backoff: Duration | None = None
    then: Name = "exit"


class ActionStep(StepBase):
    """A step that does something and moves on to ``next``."""

    next: Name | None = None
    on_error: OnError | None = None

    def advance(self, *actions: Action, why: str, what: str = "action") -> Decision:
        """Return the move to ``next`` with ``actions`` (finish if ``next`` is missing)."""
        if self.next is None:
            return Finish("no_next_step", f"step has no 'next'; {why}")
        return Advance(self.next, actions, why, what)

    def exits(self) -> Iterator[Exit]:
        """Yield ``next`` and, when it names a step, ``on_error.then``."""
        yield Exit(("next",), self.next)
        if self.on_error is not None and self.on_error.then not in ("continue", "exit"):
            yield Exit(("on_error", "then"), self.on_error.then)
