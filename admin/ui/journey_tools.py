"""What the journey page's tools compute: the editor's plan, the simulator's run, A/B figures.

Each reuses the service its CLI twin calls: ``plan_deploy``/``apply_deploy`` (``nurture
journeys deploy``), ``engine.runtime.simulate`` (``nurture journeys simulate``) and the
closed-form statistics of ``engine.stats.ab``. The routes live in ``admin.ui.journeys``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from engine.deploy.diff import JourneyDiff
from engine.deploy.service import PlannedJourney
from engine.errors import InvalidInput, NotFound
from engine.journey import Diagnostic, JourneySpec
from engine.journey.simulation import Simulation
from engine.journey.steps.split import SplitStep
from engine.runtime import simulate as simulate_service
from engine.stats.ab import Comparison, compare
from engine.store.models import Enrollment, StepRun

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


# -- A/B results ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantResult:
    """One path of a split: who took it, how many reached the goal, against the first path."""

    name: str
    weight: float
    entered: int
    conversions: int
    comparison: Comparison
    control: bool


@dataclass(frozen=True, slots=True)
class SplitResult:
    """A split step's paths measured against one goal (the experiment's, else the first)."""

    step: str
    goal: str | None
    variants: tuple[VariantResult, ...]


def ab_results(
    session: Session, journey_id: str, version: int, spec: JourneySpec
) -> list[SplitResult]:
    """Measure every split of one version: per path, enrollments that ran its first step and,
    of those, how many reached the goal (a step run ``goal:<id>``); two grouped queries."""
    splits = [(sid, s) for sid, s in spec.steps.items() if isinstance(s, SplitStep)]
    if not splits:
        return []
    firsts = {p.next for _, s in splits for p in s.paths}
    goals = {g for _, s in splits if (g := _goal_of(s, spec)) is not None}
    of_version = and_(Enrollment.journey_id == journey_id, Enrollment.version == version)
    entered: dict[str, int] = {
        step: count
        for step, count in session.execute(
            select(StepRun.step, func.count(func.distinct(StepRun.enrollment_id)))
            .join(Enrollment, Enrollment.id == StepRun.enrollment_id)
            .where(of_version, StepRun.step.in_(firsts))
            .group_by(StepRun.step)
        )
    }
    reached = aliased(StepRun)
    converted: dict[tuple[str, str], int] = {
        (first, goal_step.removeprefix(GOAL_PREFIX)): count
        for first, goal_step, count in session.execute(
            select(StepRun.step, reached.step, func.count(func.distinct(StepRun.enrollment_id)))
            .join(Enrollment, Enrollment.id == StepRun.enrollment_id)
            .join(reached, reached.enrollment_id == StepRun.enrollment_id)
            .where(
                of_version,
                StepRun.step.in_(firsts),
                reached.step.in_([GOAL_PREFIX + g for g in goals]),
            )
            .group_by(StepRun.step, reached.step)
        )
    }
    results = []
    for step_id, split in splits:
        goal = _goal_of(split, spec)
        control = split.paths[0].next
        c_in, c_won = entered.get(control, 0), converted.get((control, goal or ""), 0)
        variants = tuple(
            VariantResult(
                name=path.name,
                weight=path.weight,
                entered=entered.get(path.next, 0),
                conversions=converted.get((path.next, goal or ""), 0),
                comparison=compare(c_won, c_in, *_won_of(entered, converted, path.next, goal)),
                control=index == 0,
            )
            for index, path in enumerate(split.paths)
        )
        results.append(SplitResult(step=step_id, goal=goal, variants=variants))
    return results


def _won_of(
    entered: dict[str, int], converted: dict[tuple[str, str], int], first: str, goal: str | None
) -> tuple[int, int]:
    return converted.get((first, goal or ""), 0), entered.get(first, 0)


def _goal_of(split: SplitStep, spec: JourneySpec) -> str | None:
    if split.experiment is not None:
        return split.experiment.goal
    return spec.goals[0].id if spec.goals else None
