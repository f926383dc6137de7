"""What the journey page's tools compute: the editor's plan and the simulator's run.

Each reuses the service its CLI twin calls: ``plan_deploy``/``apply_deploy`` (``nurture
journeys deploy``) and ``engine.runtime.simulate`` (``nurture journeys simulate``). The
routes live in ``admin.ui.journeys``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from engine.deploy.diff import JourneyDiff
from engine.deploy.service import PlannedJourney
from engine.errors import InvalidInput, NotFound
from engine.journey import Diagnostic
from engine.journey.simulation import Simulation
from engine.runtime import simulate as simulate_service

GOAL_PREFIX = "goal:"
MAX_EVENTS_TEXT = 200_000
"""The simulator's events box holds at most this many characters of JSON lines."""


# -- editor -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EditorView:
    """The editor after Validate or a refused Deploy: the text, its findings, the would-be diff."""

    source: str
    diagnostics: tuple[Diagnostic, ...]
    ok: bool
    change: str
    version: int | None
    diff: JourneyDiff | None
    foreign: bool = False

    @property
    def marked_lines(self) -> dict[int, str]:
        """Return line number → worst severity found on it, for the numbered source view."""
        marked: dict[int, str] = {}
        for d in self.diagnostics:
            if marked.get(d.line) != "error":
                marked[d.line] = d.severity
        return marked


def editor_view(planned: PlannedJourney, journey_id: str) -> EditorView:
    """Summarise one planned file for the editor; ``foreign`` when it names another journey."""
    return EditorView(
        foreign=wrong_journey(planned, journey_id),
        source=planned.source,
        diagnostics=planned.diagnostics,
        ok=planned.ok,
        change=planned.kind,
        version=planned.version,
        diff=planned.diff,
    )


def wrong_journey(planned: PlannedJourney, journey_id: str) -> bool:
    """Say whether the edited YAML names another journey: this page deploys only its own."""
    return planned.journey_id is not None and planned.journey_id != journey_id


# -- simulator --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimulatorRun:
    """The simulator form as filled in, and its timeline or the reason there is none."""

    email: str
    events: str
    until: str
    result: Simulation | None = None
    error: str | None = None


def run_simulator(
    session: Session,
    journey_id: str,
    version: int | None,
    *,
    email: str,
    events: str,
    until: str,
    now: Any,
) -> SimulatorRun:
    """Simulate a stored version for a stored contact; read only, nothing is written."""
    filled = SimulatorRun(email=email, events=events, until=until)
    try:
        records = _event_lines(events)
        spec = simulate_service.journey_spec(
            session, source=None, journey_id=journey_id, version=version
        )
        result = simulate_service.simulate_for(
            session,
            spec,
            email=email.strip(),
            contact=None,
            events=records,
            start=None,
            until=until.strip() or None,
            explain=True,
            now=now,
        )
    except (InvalidInput, NotFound) as error:
        problems = getattr(error, "problems", None) or []
        detail = "; ".join(p.message for p in problems if p.message != error.message)
        message = f"{error.message}: {detail}" if detail else error.message
        return SimulatorRun(email=email, events=events, until=until, error=message)
    return SimulatorRun(email=filled.email, events=events, until=until, result=result)


def _event_lines(text: str) -> list[dict[str, Any]]:
    """Read the events box: one JSON object per line, blank lines skipped."""
    if len(text) > MAX_EVENTS_TEXT:
        raise InvalidInput(f"events: at most {MAX_EVENTS_TEXT} characters")
    found: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"events line {number}:{error.colno}: {error.msg}") from None
        if not isinstance(value, dict):
            raise InvalidInput(f'events line {number}: expected {{"type", "occurred_at"}}')
        found.append(value)
    return found


def entry_summary(detail: Any) -> str:
    """Render a timeline entry's details compactly (JSON, keys sorted, UTF-8 kept)."""
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
