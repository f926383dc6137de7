"""The planner: given a journey, an enrollment and a contact at ``now``, decide what happens.

``plan`` is pure and deterministic: no I/O, no clock, no randomness beyond a hash
of stable ids. It first records goals just reached, then checks ``exit_when``
and goals that end the journey, then runs as many immediate steps as it can
(branch → score → send …) until a step holds the contact (a wait, a
``wait_for``, a send deferred to its window), the enrollment exits, or a step
cap is hit. The executor applies ``Plan.actions`` in order and stores
``Plan.state``; the scheduler wakes the enrollment at ``Plan.wake_at`` and the
event router calls ``plan`` again with ``event=`` when something happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.errors import InvalidInput
from engine.journey import schedule
from engine.journey.actions import (
    Action,
    Advance,
    CapPolicy,
    Exit,
    Finish,
    Hold,
    Note,
    ReachGoal,
    SendEmail,
    SendTiming,
    Why,
    apply_action,
    explain,
)
from engine.journey.conditions import Condition, Ref
from engine.journey.contact_view import ContactView, EventRecord
from engine.journey.frozen import evolve
from engine.journey.needs import ViewNeeds, view_needs
from engine.journey.predicates import MISSING, Predicate, compile_condition, lookup
from engine.journey.spec import Goal, JourneySpec, SendEmailDefaults
from engine.journey.state import EnrollmentState, WaitingOn
from engine.journey.steps.send_email import Respect
from engine.journey.steps.split import sticky_bucket

MAX_STEPS_PER_CALL = 100
"""Steps one ``plan`` call may enter before the enrollment exits with ``step_limit``."""
MAX_STEPS_PER_ENROLLMENT = 1_000
"""Steps one enrollment may enter in its whole life before it exits with ``step_limit``."""
STEP_LIMIT = "step_limit"


class CompiledJourney:
    """A journey with every condition compiled once; build one per published version, reuse it."""

    __slots__ = ("_predicates", "exit_when", "goals", "needs", "spec")

    def __init__(self, spec: JourneySpec) -> None:
        """Compile the conditions of ``spec``'s steps, ``exit_when`` and ``goals``."""
        self.spec = spec
        # Keyed by identity: the spec is frozen and this object keeps it alive.
        self._predicates: dict[int, Predicate] = {
            id(condition): compile_condition(condition)
            for step in spec.steps.values()
            for condition, _, _ in step.conditions()
        }
        self.exit_when: tuple[Predicate, ...] = tuple(compile_condition(c) for c in spec.exit_when)
        self.goals: tuple[tuple[Goal, Predicate], ...] = tuple(
            (g, compile_condition(g.when)) for g in spec.goals
        )
        self.needs: ViewNeeds = view_needs(spec)

    def goal(self, goal_id: str) -> Goal | None:
        """Return the declared goal called ``goal_id``."""
        return next((g for g, _ in self.goals if g.id == goal_id), None)

    def predicate(self, condition: Condition) -> Predicate:
        """Return the compiled form of one of this journey's conditions (compiles strays)."""
        found = self._predicates.get(id(condition))
        return found if found is not None else compile_condition(condition)


def compile_journey(spec: JourneySpec) -> CompiledJourney:
    """Compile ``spec`` for planning; callers cache the result per journey version."""
    return CompiledJourney(spec)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one ``plan`` call decided.

    ``actions`` are applied in order; ``state`` replaces the enrollment's row;
    ``wake_at`` (aware UTC, None: no timer) and ``waiting_on`` (a ``wait_for``'s
    event and resolved match) tell the scheduler and the event router when to call
    again; ``trace`` says what was decided and why. ``checkpoints`` maps each send's
    idempotency key to the state at that send, for ``defer``.
    """

    at: datetime
    actions: tuple[Action, ...]
    state: EnrollmentState
    wake_at: datetime | None
    waiting_on: WaitingOn | None
    trace: tuple[Note, ...]
    checkpoints: Mapping[str, EnrollmentState] = field(default_factory=dict)

    @property
    def exited(self) -> bool:
        """Say whether the enrollment ended in this plan (or before it)."""
        return self.state.exited

    @property
    def sends(self) -> tuple[SendEmail, ...]:
        """Return the emails this plan sends."""
        return tuple(a for a in self.actions if isinstance(a, SendEmail))

    def defer(self, send: SendEmail, until: datetime) -> Plan:
        """Return this plan cut before ``send``, holding the enrollment at its step until ``until``.

        For the frequency-cap middleware (``on_limit: defer``): the actions after the
        send are dropped, and the next ``plan`` call at ``until`` sends again with the
        same idempotency key (re-checking the send window). Raises ``InvalidInput``
        when ``send`` is not one of this plan's sends.
        """
        checkpoint = self.checkpoints.get(send.idempotency_key)
        if checkpoint is None or send not in self.actions:
            raise InvalidInput(f"{send.idempotency_key} is not a send of this plan")
        wake_at = schedule.utc(until)
        state = evolve(
            checkpoint, status="waiting", wait_started_at=self.at, wake_at=wake_at, waiting_on=None
        )
        note = Note(self.at, send.step, "defer", f"frequency cap: deferred to {wake_at}")
        # The trace is cut where the actions are: what came after the send did not happen.
        sends = [i for i, n in enumerate(self.trace) if n.what == "send"]
        index = self.sends.index(send)
        cut = sends[index] if index < len(sends) else len(self.trace)
        return Plan(
            at=self.at,
            actions=self.actions[: self.actions.index(send)],
            state=state,
            wake_at=wake_at,
            waiting_on=None,
            trace=(*self.trace[:cut], note),
            checkpoints={},
        )


def plan(
    journey: JourneySpec | CompiledJourney,
    state: EnrollmentState,
    contact: ContactView,
    now: datetime,
    *,
    event: EventRecord | None = None,
    max_steps_per_call: int = MAX_STEPS_PER_CALL,
    max_steps: int = MAX_STEPS_PER_ENROLLMENT,
    trace: bool = True,
) -> Plan:
    """Decide what happens to one enrollment at ``now`` (naive means UTC).

    ``contact`` is the contact as the caller sees it (its ``entry`` and
    ``entered_at`` are taken from ``state``); ``event`` is the event that caused
    this call, if any. Pass a ``CompiledJourney`` to avoid compiling conditions per
    call. ``trace=False`` leaves the plan's trace empty: a worker applies plans without
    reading why, and the notes were a thirtieth of its work. Raises ``InvalidInput``
    when ``state`` belongs to another journey version.
    """
    compiled = journey if isinstance(journey, CompiledJourney) else CompiledJourney(journey)
    spec = compiled.spec
    if (state.journey_id, state.version) != (spec.id, spec.version):
        raise InvalidInput(
            f"enrollment is pinned to {state.journey_id} v{state.version}, "
            f"not {spec.id} v{spec.version}"
        )
    call = _Call(compiled, state, contact, schedule.utc(now), event, trace)
    if state.exited:
        call.note(state.step, "exited", f"enrollment already exited ({state.exit_reason})")
    else:
        call.run(max_steps_per_call, max_steps)
    return call.result()


class _Call:
    """The working memory of one ``plan`` call (never shared, never outlives the call)."""

    def __init__(
        self,
        compiled: CompiledJourney,
        state: EnrollmentState,
        contact: ContactView,
        now: datetime,
        event: EventRecord | None,
        tracing: bool = True,
    ) -> None:
        self.compiled = compiled
        self.spec = compiled.spec
        self.state = state
        self.now = now
        self.event = event
        events = contact.events
        if event is not None and event not in events:
            events = (*events, event)
        self.view = evolve(contact, entry=state.entry, entered_at=state.entered_at, events=events)
        self.zone = schedule.contact_zone(self.spec.timezone, contact.attributes)
        self.actions: list[Action] = []
        self.trace: list[Note] = []
        self.tracing = tracing
        self.checkpoints: dict[str, EnrollmentState] = {}

    def note(self, step: str | None, what: str, why: Why) -> None:
        if self.tracing:
            self.trace.append(Note(self.now, step, what, explain(why)))

    def emit(self, action: Action) -> None:
        self.actions.append(action)
        # Later steps of this call must see the journey's own changes (a score step
        # before a score branch), as the contact will look once these are applied.
        self.view = apply_action(self.view, action, self.now)

    def finish(self, reason: str, why: Why) -> None:
        self.note(self.state.step, "exit", why)
        self.emit(Exit(reason, self.state.step))
        self.state = evolve(
            self.state,
            status="exited",
            exit_reason=reason,
            wait_started_at=None,
            wake_at=None,
            waiting_on=None,
        )

    def run(self, max_per_call: int, max_total: int) -> None:
        if self.event is not None:
            self.note(self.state.step, "event", f"event '{self.event.name}'")
        exit_goal = self.check_goals(step=None)
        held = self.exit_when()
        if held is not None:
            self.finish("exit_when", f"exit_when[{held}] holds")
            return
        if exit_goal is not None:
            self.finish(f"goal:{exit_goal.id}", f"goal '{exit_goal.id}' reached (exit: true)")
            return
        self.steps(max_per_call, max_total)

    def steps(self, max_per_call: int, max_total: int) -> None:
        taken = 0
        while not self.state.exited:
            step_id = self.state.step
            step = self.spec.steps.get(step_id)
            if step is None:
                target = (self.spec.migrate or {}).get(step_id)
                if target is None or target not in self.spec.steps:
                    self.finish("unknown_step", f"step '{step_id}' is not in this version")
                    return
                self.note(step_id, "migrate", f"step '{step_id}' was removed: migrate → {target}")
                self.state = _moved(self.state, target)
                continue
            if not self.state.resuming:
                if taken >= max_per_call or self.state.steps_taken >= max_total:
                    limit = "this call" if taken >= max_per_call else "this enrollment"
                    self.finish(STEP_LIMIT, f"step cap reached for {limit} (cycle protection)")
                    return
                self.state = self.state.visit(step_id)
                taken += 1
            decision = step.plan(_Run(self, step_id))
            if isinstance(decision, Hold):
                self.state = evolve(
                    self.state,
                    status="waiting",
                    wait_started_at=self.state.wait_started_at or self.now,
                    wake_at=schedule.utc(decision.wake_at) if decision.wake_at else None,
                    waiting_on=decision.waiting_on,
                )
                self.note(step_id, decision.what, decision.why)
                return
            if isinstance(decision, Finish):
                self.finish(decision.reason, decision.why)
                return
            exit_goal = self.advance(step_id, decision) or self.check_goals(step=step_id)
            if exit_goal is not None:
                self.finish(f"goal:{exit_goal.id}", f"goal '{exit_goal.id}' reached (exit: true)")
                return

    def advance(self, step_id: str, decision: Advance) -> Goal | None:
        """Apply a step's advance; return a goal the step reached that ends the journey."""
        at_step = self.state
        self.note(step_id, decision.what, decision.why)
        goals = set(self.state.goals)
        exit_goal: Goal | None = None
        for action in decision.actions:
            if isinstance(action, SendEmail):
                self.checkpoints[action.idempotency_key] = at_step
            if isinstance(action, ReachGoal):
                goals.add(action.goal_id)
                goal = self.compiled.goal(action.goal_id)
                if goal is not None and goal.exit:
                    exit_goal = exit_goal or goal
            self.emit(action)
        assignments = self.state.assignments
        if decision.assign is not None:
            assignments = {**assignments, step_id: decision.assign}
        self.state = _moved(
            self.state, decision.next, assignments=assignments, goals=frozenset(goals)
        )
        return exit_goal

    def check_goals(self, step: str | None) -> Goal | None:
        """Record goals newly met within their window; return the first that exits."""
        exit_goal: Goal | None = None
        if not self.compiled.goals:
            return None
        view = self.since_entry()
        for goal, predicate in self.compiled.goals:
            if goal.id in self.state.goals:
                continue
            if goal.within is not None and self.now > self.state.entered_at + goal.within:
                continue
            if not predicate(view, self.now):
                continue
            key = f"{self.state.enrollment_id}:goal:{goal.id}"
            self.note(step, "goal", f"goal '{goal.id}' reached")
            self.emit(ReachGoal(goal.id, step, key))
            self.state = evolve(self.state, goals=self.state.goals | {goal.id})
            if goal.exit and exit_goal is None:
                exit_goal = goal
        return exit_goal

    def exit_when(self) -> int | None:
        """Return the index of the first ``exit_when`` condition that holds."""
        if not self.compiled.exit_when:
            return None
        view = self.since_entry()
        for i, predicate in enumerate(self.compiled.exit_when):
            if predicate(view, self.now):
                return i
        return None

    def since_entry(self) -> ContactView:
        """Return the view ``exit_when`` and goals see: events since entry only.

        An earlier term's ``subscription_renewed`` must not end this term's enrollment.
        """
        entered = schedule.utc(self.state.entered_at)
        events = tuple(e for e in self.view.events if schedule.utc(e.occurred_at) >= entered)
        return evolve(self.view, events=events)

    def result(self) -> Plan:
        waiting = self.state.status == "waiting"
        return Plan(
            at=self.now,
            actions=tuple(self.actions),
            state=self.state,
            wake_at=self.state.wake_at if waiting else None,
            waiting_on=self.state.waiting_on if waiting else None,
            trace=tuple(self.trace),
            checkpoints=dict(self.checkpoints),
        )


def _moved(state: EnrollmentState, step: str, **changes: Any) -> EnrollmentState:
    return evolve(
        state,
        step=step,
        status="active",
        wait_started_at=None,
        wake_at=None,
        waiting_on=None,
        **changes,
    )


class _Run:
    """The ``PlanContext`` one step sees."""

    __slots__ = ("_call", "step_id")

    def __init__(self, call: _Call, step_id: str) -> None:
        self._call = call
        self.step_id = step_id

    @property
    def now(self) -> datetime:
        return self._call.now

    @property
    def state(self) -> EnrollmentState:
        return self._call.state

    @property
    def contact(self) -> ContactView:
        return self._call.view

    @property
    def event(self) -> EventRecord | None:
        return self._call.event

    @property
    def zone(self) -> ZoneInfo:
        return self._call.zone

    @property
    def resuming(self) -> bool:
        return self._call.state.resuming

    @property
    def idempotency_key(self) -> str:
        state = self._call.state
        return f"{state.enrollment_id}:{self.step_id}:{state.attempt(self.step_id)}"

    @property
    def email_defaults(self) -> SendEmailDefaults | None:
        defaults = self._call.spec.defaults
        return defaults.send_email if defaults else None

    def holds(self, condition: Condition, event: EventRecord | None = None) -> bool:
        predicate = self._call.compiled.predicate(condition)
        return predicate(self._call.view, self._call.now, event)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            view = self._call.view
            found = lookup(view.entry if value.scope == "entry" else view.attributes, value.path)
            return None if found is MISSING else found
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        return value

    def bucket(self, salt: str, *, per_contact: bool) -> float:
        state = self._call.state
        key = state.contact_id if per_contact else state.enrollment_id
        return sticky_bucket(state.journey_id, salt, key)

    def send_timing(self, respect: Respect) -> SendTiming:
        spec, now, zone = self._call.spec, self._call.now, self._call.zone
        window = spec.send_window if respect.send_window else None
        quiet = spec.quiet_hours if respect.quiet_hours else None
        if schedule.may_send(now, zone, window, quiet):
            return SendTiming("now")
        if (
            quiet is not None
            and quiet.on_quiet == "skip"
            and schedule.in_quiet_hours(now, zone, quiet)
        ):
            return SendTiming("skip", why="quiet hours (on_quiet: skip)")
        at = schedule.next_send_time(now, zone, window, quiet)
        if at is None:
            return SendTiming("skip", why="the send window is never open outside quiet hours")
        reason = (
            "quiet hours"
            if schedule.in_send_window(now, zone, window)
            else "outside the send window"
        )
        return SendTiming("defer", at, f"{reason}; next allowed {at.astimezone(zone).isoformat()}")

    def frequency_cap(self, respect: Respect) -> CapPolicy | None:
        cap = self._call.spec.frequency_cap
        if cap is None or not respect.frequency_cap:
            return None
        return CapPolicy(cap.max, cap.per, cap.scope, cap.on_limit)
