"""Move a live enrollment to another step from outside the planner (a webhook's ``on_failure``).

The planner moves enrollments as it runs steps; some outcomes are only known later, when a
worker learns that a call it made failed for good. This is the one way such an outcome moves
an enrollment, so the stored state stays what the planner itself would have written.
"""

from __future__ import annotations

import dataclasses

from engine.errors import InvalidInput
from engine.journey.state import EnrollmentState


def reroute(state: EnrollmentState, step: str) -> EnrollmentState:
    """Return ``state`` moved to ``step``, ready to run it at the next plan.

    Whatever the enrollment was waiting on is dropped; the step's visit is counted when the
    planner enters it, as for any move. Raises InvalidInput for an enrollment that exited.
    """
    if state.exited:
        raise InvalidInput(f"enrollment {state.enrollment_id} has exited; it cannot move to {step}")
    return dataclasses.replace(
        state,
        step=step,
        status="active",
        wait_started_at=None,
        wake_at=None,
        waiting_on=None,
    )
