"""The running instance of a journey: one enrollment's position, history and wait.

The spec is the static graph; ``EnrollmentState`` is what a database row holds for
one contact in it. The planner never mutates a state: it returns a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from engine.journey.frozen import evolve

if TYPE_CHECKING:
    from engine.journey.spec import JourneySpec

EnrollmentStatus = Literal["active", "waiting", "exited"]
"""``active``: ready to run its current step; ``waiting``: until ``wake_at`` and/or an
event; ``exited``: done (``exit_reason`` says why)."""


@dataclass(frozen=True, slots=True)
class WaitingOn:
    """What a ``wait_for`` listens for: an event name and the ``match`` it must satisfy.

    ``match`` is the condition as JSON with every ``{ref: entry.…}`` already replaced
    by its value, so an event router can test it without the enrollment's entry.
    Events that occurred at or after ``since`` count.
    """

    step: str
    event: str
    match: Mapping[str, Any] | None
    since: datetime

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "step": self.step,
            "event": self.event,
            "match": self.match,
            "since": self.since.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WaitingOn:
        """Rebuild from ``to_json`` output."""
        return cls(
            step=data["step"],
            event=data["event"],
            match=data.get("match"),
            since=datetime.fromisoformat(data["since"]),
        )


@dataclass(frozen=True)  # no slots: ``evolve`` copies an instance dict faster
class EnrollmentState:
    """One contact's enrollment in one pinned journey version.

    ``contact_id`` keys sticky splits (same contact, same path, across enrollments);
    ``enrollment_id`` keys idempotency (``enrollment:step:attempt``). ``attempts``
    counts visits per step; ``assignments`` records split paths and email variants by
    step; ``goals`` holds goals already reached. ``wait_started_at``/``wake_at`` are set
    while a step holds the contact (a wait, a ``wait_for``, a deferred send).
    """

    journey_id: str
    version: int
    enrollment_id: str
    contact_id: str
    step: str
    entered_at: datetime
    entry: Mapping[str, Any] = field(default_factory=dict)
    status: EnrollmentStatus = "active"
    steps_taken: int = 0
    attempts: Mapping[str, int] = field(default_factory=dict)
    assignments: Mapping[str, str] = field(default_factory=dict)
    goals: frozenset[str] = frozenset()
    wait_started_at: datetime | None = None
    wake_at: datetime | None = None
    waiting_on: WaitingOn | None = None
    exit_reason: str | None = None

    @classmethod
    def enter(
        cls,
        spec: JourneySpec,
        *,
        enrollment_id: str,
        contact_id: str,
        entered_at: datetime,
        entry: Mapping[str, Any] | None = None,
    ) -> EnrollmentState:
        """Return a new enrollment at ``spec.start``; ``entry`` is the entry event or snapshot."""
        return cls(
            journey_id=spec.id,
            version=spec.version,
            enrollment_id=enrollment_id,
            contact_id=contact_id,
            step=spec.start,
            entered_at=entered_at,
            entry=dict(entry or {}),
        )

    @property
    def exited(self) -> bool:
        """Say whether the enrollment is over."""
        return self.status == "exited"

    @property
    def resuming(self) -> bool:
        """Say whether the current step already started and holds the contact."""
        return self.wait_started_at is not None

    def attempt(self, step: str) -> int:
        """Return how many times ``step`` has been entered (0: never)."""
        return self.attempts.get(step, 0)

    def visit(self, step: str) -> EnrollmentState:
        """Return the state after entering ``step`` once more."""
        attempts = {**self.attempts, step: self.attempt(step) + 1}
        return evolve(
            self,
            step=step,
            status="active",
            steps_taken=self.steps_taken + 1,
            attempts=attempts,
            wait_started_at=None,
            wake_at=None,
            waiting_on=None,
        )

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the ``entry`` must already be JSON-ready)."""
        return {
            "journey_id": self.journey_id,
            "version": self.version,
            "enrollment_id": self.enrollment_id,
            "contact_id": self.contact_id,
            "step": self.step,
            "entered_at": self.entered_at.isoformat(),
            "entry": dict(self.entry),
            "status": self.status,
            "steps_taken": self.steps_taken,
            "attempts": dict(self.attempts),
            "assignments": dict(self.assignments),
            "goals": sorted(self.goals),
            "wait_started_at": _iso(self.wait_started_at),
            "wake_at": _iso(self.wake_at),
            "waiting_on": self.waiting_on.to_json() if self.waiting_on else None,
            "exit_reason": self.exit_reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EnrollmentState:
        """Rebuild from ``to_json`` output."""
        waiting_on = data.get("waiting_on")
        return cls(
            journey_id=data["journey_id"],
            version=int(data["version"]),
            enrollment_id=data["enrollment_id"],
            contact_id=data["contact_id"],
            step=data["step"],
            entered_at=datetime.fromisoformat(data["entered_at"]),
            entry=dict(data.get("entry") or {}),
            status=cast(EnrollmentStatus, data.get("status", "active")),
            steps_taken=int(data.get("steps_taken", 0)),
            attempts={str(k): int(v) for k, v in (data.get("attempts") or {}).items()},
            assignments={str(k): str(v) for k, v in (data.get("assignments") or {}).items()},
            goals=frozenset(data.get("goals") or ()),
            wait_started_at=_from_iso(data.get("wait_started_at")),
            wake_at=_from_iso(data.get("wake_at")),
            waiting_on=WaitingOn.from_json(waiting_on) if waiting_on else None,
            exit_reason=data.get("exit_reason"),
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
