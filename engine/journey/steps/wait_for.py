"""``wait_for``: wait for an event, with a timeout that must be written out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import ClassVar, Literal

from engine.journey.base import Name
from engine.journey.conditions import Condition
from engine.journey.diagnostics import Finding, Path
from engine.journey.durations import NEVER, DurationOrNever
from engine.journey.steps.base import Exit, StepBase, StepContext


class WaitForStep(StepBase):
    """Continue at ``on_event`` when a matching event arrives, else at ``on_timeout``.

    ``timeout`` is required (``never`` must be explicit) so nobody waits forever by accident.
    """

    waits: ClassVar[bool] = True

    type: Literal["wait_for"]
    event: Name
    match: Condition | None = None
    timeout: DurationOrNever | None = None
    check_existing: Literal["since_entry", False] = False
    on_event: Name | None = None
    on_timeout: Name | None = None

    def exits(self) -> Iterator[Exit]:
        """Yield ``on_event`` and, unless the wait never times out, ``on_timeout``."""
        yield Exit(("on_event",), self.on_event)
        if self.timeout != NEVER or self.on_timeout is not None:
            yield Exit(("on_timeout",), self.on_timeout)

    def conditions(self) -> Iterator[tuple[Condition, Path, bool]]:
        """Yield ``match``, which compares the awaited event's properties."""
        if self.match is not None:
            yield self.match, ("match",), True

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require a timeout, and no ``on_timeout`` when it is ``never``."""
        if self.timeout is None:
            yield Finding(
                "E403", path, "wait_for needs a 'timeout' (write 'timeout: never' to wait forever)"
            )
        elif self.timeout == NEVER and self.on_timeout is not None:
            yield Finding(
                "E408", (*path, "on_timeout"), "'on_timeout' is never taken with 'timeout: never'"
            )

    def delay(self) -> timedelta | None:
        """Return the timeout (None when the wait may last forever)."""
        return self.timeout if isinstance(self.timeout, timedelta) else None
