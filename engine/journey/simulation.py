"""A time-travel simulator: what one contact would experience in a journey, step by step.

Pure, like the planner: the contact, its events and the clock are all arguments.
``simulate_journey`` enrolls the contact from the journey's own triggers (an event
trigger at the matching event's time, a date trigger at the attribute date plus
offset at the local ``at``, a schedule trigger at its cron fires), then replays
``plan`` for every enrollment over a virtual clock that jumps from event to wake-up
in time order, and turns each plan into timeline entries::

    {"at": "2026-03-09T09:00:00+09:00", "step": "welcome", "action": "send_email",
     "detail": {"template": "welcome", "subject": "…"}}

``at`` is when the action takes effect: a send deferred by the send window or
quiet hours is listed when it goes out. What the planner leaves to the runtime is
emulated here: the frequency cap is counted over this simulation's sends, and a
send whose topic the contact is not subscribed to is skipped (no consent). With
``explain`` each decision also says why: the value of every condition leaf of a
branch, ``exit_when`` or audience; the cap in force; and, at the end, why the
steps never reached were not reached.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from engine.errors import InvalidInput
from engine.journey import schedule
from engine.journey.actions import (
    Action,
    AdjustScore,
    CallWebhook,
    Exit,
    Handoff,
    Notify,
    ReachGoal,
    SendEmail,
    Tag,
    UpdateContact,
    apply_action,
)
from engine.journey.conditions import (
    CONDITION_KEYS,
    AllOf,
    AnyOf,
    AttrLeaf,
    Condition,
    EntryLeaf,
    NotOf,
    ScoreLeaf,
    SubscribedLeaf,
)
from engine.journey.contact_view import ContactView, EmailRecord, EventRecord
from engine.journey.durations import format_duration, parse_duration
from engine.journey.entry import PriorEnrollment, reentry_refusal
from engine.journey.graph import reachable
from engine.journey.planner import CompiledJourney, Plan, plan
from engine.journey.predicates import MISSING, compile_condition, lookup
from engine.journey.send_rules import RecentSend, apply_send_rules
from engine.journey.spec import JourneySpec
from engine.journey.state import EnrollmentState
from engine.journey.steps import BranchStep, WaitForStep
from engine.journey.triggers import DateTrigger, EventTrigger, ScheduleTrigger, SegmentTrigger

TimelineAction = Literal[
    "send_email",
    "update_contact",
    "tag",
    "score",
    "webhook",
    "handoff",
    "notify",
    "goal",
    "exit",
    "wait",
    "branch",
    "skip",
]
ACTIONS: tuple[str, ...] = (
    "send_email", "update_contact", "tag", "score", "webhook", "handoff", "notify",
    "goal", "exit", "wait", "branch", "skip",
)  # fmt: skip
"""Every ``action`` a timeline entry may have."""

DEFAULT_HORIZON = timedelta(days=90)
"""How far the virtual clock runs when no ``until`` is given."""
MAX_CALLS = 10_000
"""``plan`` calls one simulation makes at most (all enrollments together)."""
MAX_FIRES = 5_000
"""Schedule-trigger fires one simulation evaluates at most."""
EMAIL_EVENTS: Mapping[str, str] = {
    "email_sent": "sent",
    "email_opened": "opened",
    "email_clicked": "clicked",
    "email_bounced": "bounced",
    "email_unsubscribed": "unsubscribed",
}
"""Event types that also count as email activity (``properties.step``/``template`` say which)."""
_CONTACT_FIELDS = frozenset(
    {"id", "attributes", "tags", "segments", "subscriptions", "scores", "score", "emails", "events"}
)
_ACTION_NAMES: Mapping[type, TimelineAction] = {
    SendEmail: "send_email",
    UpdateContact: "update_contact",
    Tag: "tag",
    AdjustScore: "score",
    CallWebhook: "webhook",
    Handoff: "handoff",
    Notify: "notify",
    ReachGoal: "goal",
    Exit: "exit",
}
_PLAIN: tuple[type, ...] = (
    SendEmail,
    UpdateContact,
    Tag,
    AdjustScore,
    CallWebhook,
    Handoff,
    Notify,
)
"""Actions a step's own note announces (goals and exits have notes of their own)."""
_DROPPED = frozenset({"kind", "step", "idempotency_key", "key_template"})


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing that happens to the contact: when, at which step, what, and the details.

    ``enrollment`` numbers the contact's enrollments from 1 (a journey with
    re-entry may run several); ``zone`` is the contact's zone at that moment, used
    to show ``at`` in local time.
    """

    at: datetime
    step: str
    action: TimelineAction
    detail: Mapping[str, Any]
    enrollment: int
    zone: ZoneInfo = field(default=ZoneInfo("UTC"), compare=False)

    @property
    def local(self) -> datetime:
        """Return ``at`` in the contact's zone."""
        return self.at.astimezone(self.zone)

    def to_json(self) -> dict[str, Any]:
        """Return the contract's JSON form: ``at`` is ISO-8601 with the contact's offset."""
        return {
            "at": self.local.isoformat(),
            "step": self.step,
            "action": self.action,
            "detail": _jsonable(self.detail),
            "enrollment": self.enrollment,
        }


@dataclass(frozen=True, slots=True)
class Simulation:
    """The timeline of one simulation and the window it covered."""

    journey_id: str
    start: datetime
    until: datetime
    entries: tuple[TimelineEntry, ...]
    enrollments: int
    zone: ZoneInfo
    truncated: bool = False

    def to_json(self) -> list[dict[str, Any]]:
        """Return the entries as the contract's JSON array, in time order."""
        return [entry.to_json() for entry in self.entries]


# --- input: contacts and events as JSON ------------------------------------------------------


def contact_from_json(data: Any) -> tuple[ContactView, str]:
    """Build a contact from CONTACT.json; return it with its id (``contact`` when absent).

    Top-level fields (``email``, ``first_name``, ``timezone`` …) and ``attributes``
    form the attribute document (``attributes`` wins). Also read: ``tags``,
    ``segments``, ``subscriptions`` (lists of names), ``score`` (the default model)
    or ``scores`` (model → number), ``emails`` (``{activity, at, step?, template?,
    human?}``) and ``events`` (history, like events lines). Raises ``InvalidInput``
    naming the field.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("a contact is a JSON object with its fields and 'attributes'")
    attributes_value = data.get("attributes", {})
    if not isinstance(attributes_value, Mapping):
        raise InvalidInput("'attributes' must be an object")
    attributes = {str(k): v for k, v in data.items() if k not in _CONTACT_FIELDS}
    attributes.update({str(k): v for k, v in attributes_value.items()})
    scores: dict[str, float] = {}
    if "score" in data:
        scores["default"] = _number(data["score"], "score")
    scores_value = data.get("scores", {})
    if not isinstance(scores_value, Mapping):
        raise InvalidInput("'scores' must be an object of model → number")
    for model, value in scores_value.items():
        scores[str(model)] = _number(value, f"scores.{model}")
    emails = tuple(
        _email_record(item, f"emails[{i}]") for i, item in enumerate(_list(data, "emails"))
    )
    history = tuple(
        event_from_json(item, f"events[{i}]") for i, item in enumerate(_list(data, "events"))
    )
    contact = ContactView(
        attributes=attributes,
        tags=frozenset(_names(data, "tags")),
        segments=frozenset(_names(data, "segments")),
        subscriptions=frozenset(_names(data, "subscriptions")),
        scores=scores,
        events=history,
        emails=emails,
    )
    contact_id = data.get("id", "contact")
    return contact, str(contact_id)


def event_from_json(data: Any, where: str = "event") -> EventRecord:
    """Build an event from ``{"type", "occurred_at", "properties"}``; raise ``InvalidInput``."""
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f'{where}: an event is an object {{"type", "occurred_at", "properties"}}'
        )
    name = data.get("type", data.get("name"))
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where}: 'type' (the event name) is missing")
    if "occurred_at" not in data:
        raise InvalidInput(f"{where}: 'occurred_at' is missing")
    occurred_at = parse_instant(data["occurred_at"], f"{where}: 'occurred_at'")
    properties = data.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping):
        raise InvalidInput(f"{where}: 'properties' must be an object")
    unknown = sorted(set(data) - {"type", "name", "occurred_at", "properties"})
    if unknown:
        raise InvalidInput(f"{where}: unknown field {', '.join(map(repr, unknown))}")
    return EventRecord(name, occurred_at, dict(properties))


def parse_instant(value: Any, what: str = "time") -> datetime:
    """Parse an ISO-8601 date-time with an offset (``Z`` or ``+09:00``) to aware UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(
                f"{what} {value!r} is not an ISO-8601 date-time (2026-03-06T19:00:00+09:00)"
            ) from None
    else:
        raise InvalidInput(f"{what} must be an ISO-8601 date-time text, got {value!r}")
    if moment.tzinfo is None:
        raise InvalidInput(f"{what} {value!r} needs a UTC offset (Z or +09:00)")
    return moment.astimezone(UTC)


def parse_until(value: str | datetime | None, start: datetime) -> datetime:
    """Read ``--until``: an ISO-8601 date-time, a duration after ``start`` (``60d``), or 90d."""
    if value is None:
        return start + DEFAULT_HORIZON
    if isinstance(value, str) and value.strip()[-1:] in "smhdw" and value.strip()[:1].isdigit():
        try:
            return start + parse_duration(value)
        except ValueError as exc:
            raise InvalidInput(f"until: {exc}") from None
    until = parse_instant(value, "until")
    if until < start:
        raise InvalidInput(f"until {until.isoformat()} is before the start {start.isoformat()}")
    return until


def default_start(
    spec: JourneySpec, contact: ContactView, events: Sequence[EventRecord]
) -> datetime:
    """Return where the clock starts when no ``--start`` is given: the first event.

    Without events, a date trigger's moment is used. Raises ``InvalidInput`` when
    neither exists.
    """
    if events:
        return min(schedule.utc(e.occurred_at) for e in events)
    zone = schedule.contact_zone(spec.timezone, contact.attributes)
    for trigger in spec.triggers:
        if isinstance(trigger, DateTrigger):
            anchor = trigger.date
            value = lookup(contact.attributes, anchor.attribute)
            moment = schedule.date_anchor(value, anchor.offset, anchor.at, zone)
            if moment is not None:
                return moment
    raise InvalidInput(
        "no events to start from: give a start time (--start or start: 2026-03-06T09:00Z)"
    )


# --- the simulation -----------------------------------------------------------------------


def simulate_journey(
    journey: JourneySpec | CompiledJourney,
    contact: ContactView,
    events: Iterable[EventRecord],
    start: datetime,
    until: datetime,
    *,
    contact_id: str = "contact",
    explain: bool = False,
    max_calls: int = MAX_CALLS,
) -> Simulation:
    """Enroll ``contact`` from the journey's triggers and return its timeline until ``until``.

    Events before ``start`` are the contact's history; events in ``[start, until]``
    happen in time order (each also reaches every running enrollment); events after
    ``until`` are ignored. ``explain`` adds the reasons behind every decision and a
    ``skip`` entry for each step never reached.
    """
    compiled = journey if isinstance(journey, CompiledJourney) else CompiledJourney(journey)
    run = _Run(compiled, contact, contact_id, schedule.utc(start), schedule.utc(until), explain)
    run.play(events, max_calls)
    return run.result()


@dataclass(slots=True)
class _Enrollment:
    number: int
    state: EnrollmentState
    key: tuple[Any, ...] | None
    entered_at: datetime
    wake_at: datetime | None = None
    exited_at: datetime | None = None

    @property
    def active(self) -> bool:
        return not self.state.exited


@dataclass(frozen=True, slots=True)
class _Sent:
    at: datetime
    key: str
    topic: str | None = None


class _Run:
    """The working memory of one simulation."""

    def __init__(
        self,
        compiled: CompiledJourney,
        contact: ContactView,
        contact_id: str,
        start: datetime,
        until: datetime,
        explain: bool,
    ) -> None:
        self.compiled = compiled
        self.spec = compiled.spec
        self.contact = contact
        self.contact_id = contact_id
        self.start = start
        self.until = until
        self.explain = explain
        self.entries: list[TimelineEntry] = []
        self.enrollments: list[_Enrollment] = []
        self.sent: list[_Sent] = []
        self.visited: set[str] = set()
        self.decisions: list[tuple[TimelineEntry, str]] = []  # branch entries and their step
        self.calls = 0
        self.fired = False
        self.truncated = False
        self.audience = (
            compile_condition(self.spec.audience) if self.spec.audience is not None else None
        )
        self.wheres = {
            i: compile_condition(t.where)
            for i, t in enumerate(self.spec.triggers)
            if isinstance(t, EventTrigger) and t.where is not None
        }

    # -- the clock --

    def play(self, events: Iterable[EventRecord], max_calls: int) -> None:
        timeline = sorted(events, key=lambda e: schedule.utc(e.occurred_at))
        for event in timeline:
            if schedule.utc(event.occurred_at) < self.start:
                self.remember(event)
        pending = [e for e in timeline if self.start <= schedule.utc(e.occurred_at) <= self.until]
        fires = self.fires()
        next_fire = next(fires, None)
        self.segment_entries()
        while True:
            if self.calls >= max_calls:
                self.truncated = True
                return
            wake = min(
                (e.wake_at for e in self.enrollments if e.active and e.wake_at is not None),
                default=None,
            )
            event_at = schedule.utc(pending[0].occurred_at) if pending else None
            fire_at = next_fire[0] if next_fire is not None else None
            moments = [t for t in (event_at, wake, fire_at) if t is not None]
            if not moments:
                return
            now = min(moments)
            if now > self.until:
                return
            if event_at is not None and event_at == now:
                self.on_event(pending.pop(0), max_calls)
            elif wake is not None and wake == now:
                for enrollment in self.enrollments:
                    if enrollment.active and enrollment.wake_at == now:
                        self.call(enrollment, now, None)
            elif next_fire is not None:
                at, index, label = next_fire
                trigger = self.spec.triggers[index]
                quiet = isinstance(trigger, ScheduleTrigger) and not self.explain and self.fired
                self.fired = True
                self.try_enroll(index, at, label=label, quiet=quiet)
                next_fire = next(fires, None)

    def fires(self) -> Iterator[tuple[datetime, int, str]]:
        """Yield date and schedule trigger moments in time order, within the window."""
        found: list[tuple[datetime, int, str]] = []
        zone = self.zone()
        for i, trigger in enumerate(self.spec.triggers):
            if isinstance(trigger, DateTrigger):
                anchor = trigger.date
                value = lookup(self.contact.attributes, anchor.attribute)
                moment = schedule.date_anchor(value, anchor.offset, anchor.at, zone)
                if moment is None:
                    self.skip_entry(
                        self.start,
                        "no_date",
                        f"'{anchor.attribute}' is missing or not a date: the date trigger never fires",
                    )
                elif moment < self.start:
                    if anchor.late_entry == "enter_now":
                        found.append(
                            (
                                self.start,
                                i,
                                f"date trigger (late_entry: enter_now, was {moment.isoformat()})",
                            )
                        )
                    else:
                        self.skip_entry(
                            self.start,
                            "late_entry",
                            f"the date trigger's moment {moment.astimezone(zone).isoformat()} "
                            "passed before the simulation started (late_entry: skip)",
                        )
                elif moment <= self.until:
                    found.append((moment, i, "date trigger"))
        schedules = [
            (i, t) for i, t in enumerate(self.spec.triggers) if isinstance(t, ScheduleTrigger)
        ]
        for i, trigger in schedules:
            cron_zone = ZoneInfo(trigger.schedule.timezone or "UTC")
            cursor = self.start
            for _ in range(MAX_FIRES):
                fire = next_cron_fire(trigger.schedule.cron, cursor, cron_zone)
                if fire is None or fire > self.until:
                    break
                found.append((fire, i, f"schedule '{trigger.schedule.cron}'"))
                cursor = fire + timedelta(minutes=1)
        yield from sorted(found, key=lambda item: (item[0], item[1]))

    def segment_entries(self) -> None:
        for i, trigger in enumerate(self.spec.triggers):
            if not isinstance(trigger, SegmentTrigger):
                continue
            member = trigger.segment in self.contact.segments
            if member == (trigger.when == "enters"):
                self.try_enroll(
                    i, self.start, label=f"segment '{trigger.segment}' ({trigger.when})"
                )

    # -- events and entries --

    def remember(self, event: EventRecord) -> None:
        """Add ``event`` to the contact's history (and its email activity, if it is one)."""
        events = (*self.contact.events, event)
        emails = self.contact.emails
        activity = EMAIL_EVENTS.get(event.name)
        if activity is not None:
            props = event.properties
            record = EmailRecord(
                activity,  # type: ignore[arg-type]  # the values of EMAIL_EVENTS are activities
                schedule.utc(event.occurred_at),
                step=_text(props.get("step")),
                template=_text(props.get("template")),
                human=bool(props.get("human", True)),
            )
            emails = (*emails, record)
        self.contact = dataclasses.replace(self.contact, events=events, emails=emails)

    def on_event(self, event: EventRecord, max_calls: int) -> None:
        now = schedule.utc(event.occurred_at)
        self.remember(event)
        for enrollment in list(self.enrollments):
            if enrollment.active and self.calls < max_calls:
                self.call(enrollment, now, event)
        for i, trigger in enumerate(self.spec.triggers):
            if not isinstance(trigger, EventTrigger) or trigger.event != event.name:
                continue
            where = self.wheres.get(i)
            if where is not None and not where(self.contact, now, event):
                if self.explain and trigger.where is not None:
                    detail = {
                        "reason": "trigger_where",
                        "why": f"'{event.name}' does not match the trigger's 'where'",
                        "explain": self.leaves(trigger.where, self.contact, now, event),
                    }
                    self.add(now, self.spec.start, "skip", detail, 0)
                continue
            entry = {
                "name": event.name,
                "type": event.name,
                "occurred_at": now.isoformat(),
                "properties": dict(event.properties),
            }
            self.try_enroll(i, now, entry=entry, label=f"event '{event.name}'")
            return

    def try_enroll(
        self,
        index: int,
        now: datetime,
        *,
        entry: Mapping[str, Any] | None = None,
        label: str,
        quiet: bool = False,
    ) -> None:
        """Enroll the contact now, unless entry rules or the audience say no (a ``skip``).

        ``quiet`` leaves out the ``skip`` (repeated schedule fires, unless explaining).
        """
        trigger = self.spec.triggers[index]
        if isinstance(trigger, DateTrigger):
            entry = _snapshot(self.contact.attributes)
        entry = dict(entry or {})
        key = _key(trigger, entry, self.contact.attributes)
        refusal = self.entry_refusal(now, key)
        if refusal is not None:
            reason, why = refusal
            if not quiet:
                self.skip_entry(now, reason, f"{label}: {why}")
            return
        view = dataclasses.replace(self.contact, entry=entry, entered_at=now)
        if self.audience is not None and not self.audience(view, now):
            if quiet:
                return
            detail: dict[str, Any] = {
                "reason": "audience",
                "why": f"{label}: the contact is not in the audience",
            }
            if self.explain and self.spec.audience is not None:
                detail["explain"] = self.leaves(self.spec.audience, view, now)
            self.add(now, self.spec.start, "skip", detail, 0)
            return
        number = len(self.enrollments) + 1
        state = EnrollmentState.enter(
            self.spec,
            enrollment_id=f"simulation-{number}",
            contact_id=self.contact_id,
            entered_at=now,
            entry=entry,
        )
        enrollment = _Enrollment(number, state, key, now)
        self.enrollments.append(enrollment)
        self.call(enrollment, now, None, entered=label)

    def entry_refusal(self, now: datetime, key: tuple[Any, ...] | None) -> tuple[str, str] | None:
        """Say why the contact may not enter now, by the runtime's own entry rules."""
        prior = [
            PriorEnrollment(_key_text(e.key), e.entered_at, e.exited_at) for e in self.enrollments
        ]
        return reentry_refusal(self.spec.entry, prior, key=_key_text(key), now=now)

    # -- one plan call --

    def call(
        self,
        enrollment: _Enrollment,
        now: datetime,
        event: EventRecord | None,
        *,
        entered: str | None = None,
    ) -> None:
        self.calls += 1
        before = self.contact
        zone = self.zone()
        result = plan(self.compiled, enrollment.state, before, now, event=event)
        result, vetoed = self.runtime_rules(result, before)
        for action in result.actions:
            if isinstance(action, SendEmail) and action.idempotency_key in vetoed:
                continue
            if isinstance(action, SendEmail):
                self.sent.append(_Sent(now, action.idempotency_key, action.topic))
            self.contact = apply_action(self.contact, action, now)
        _Entries(self, enrollment, result, before, event, vetoed, zone, entered).emit()
        enrollment.state = result.state
        if result.exited and enrollment.exited_at is None:
            enrollment.exited_at = now
        enrollment.wake_at = result.wake_at if result.wake_at is None else max(result.wake_at, now)
        if enrollment.wake_at is not None and enrollment.wake_at == now and not result.actions:
            # A hold that wakes at once and did nothing would spin: move a microsecond on.
            enrollment.wake_at = now + timedelta(microseconds=1)

    def runtime_rules(self, result: Plan, contact: ContactView) -> tuple[Plan, dict[str, str]]:
        """Apply what the runtime applies at send time: consent and the frequency cap."""
        recent = [RecentSend(s.at, self.spec.id, s.topic) for s in self.sent]
        return apply_send_rules(result, contact, recent, self.spec.id)

    # -- output --

    def zone(self) -> ZoneInfo:
        return schedule.contact_zone(self.spec.timezone, self.contact.attributes)

    def add(
        self,
        at: datetime,
        step: str,
        action: TimelineAction,
        detail: Mapping[str, Any],
        enrollment: int,
        zone: ZoneInfo | None = None,
    ) -> TimelineEntry:
        entry = TimelineEntry(at, step, action, dict(detail), enrollment, zone or self.zone())
        self.entries.append(entry)
        return entry

    def skip_entry(self, at: datetime, reason: str, why: str) -> None:
        self.add(at, self.spec.start, "skip", {"reason": reason, "why": why}, 0)

    def leaves(
        self,
        condition: Condition,
        view: ContactView,
        now: datetime,
        event: EventRecord | None = None,
    ) -> list[dict[str, Any]]:
        return explain_condition(condition, view, now, event)

    def result(self) -> Simulation:
        if self.explain:
            self.not_reached()
        order = sorted(range(len(self.entries)), key=lambda i: (self.entries[i].at, i))
        return Simulation(
            journey_id=self.spec.id,
            start=self.start,
            until=self.until,
            entries=tuple(self.entries[i] for i in order),
            enrollments=len(self.enrollments),
            zone=self.zone(),
            truncated=self.truncated,
        )

    def not_reached(self) -> None:
        """Add a ``skip`` for every step never entered, naming the decisions that led away."""
        graph = {
            name: tuple(e.target for e in step.exits() if e.target is not None)
            for name, step in self.spec.steps.items()
        }
        at = self.entries[-1].at if self.entries else self.start
        for name in self.spec.steps:
            if name in self.visited:
                continue
            away = []
            for entry, step in self.decisions:
                went = entry.detail.get("to")
                others = [t for t in graph.get(step, ()) if t != went]
                if any(name in reachable(graph, t) for t in others) and (
                    not isinstance(went, str) or name not in reachable(graph, went)
                ):
                    away.append(f"'{step}' went to '{went}': {entry.detail.get('why', '')}")
            if away:
                why = "; ".join(away)
            elif not self.enrollments:
                why = "the contact never entered the journey"
            else:
                why = _ended(self.enrollments[-1].state)
            self.add(at, name, "skip", {"reason": "not_reached", "why": why}, 0)


class _Entries:
    """Turn one plan into timeline entries, walking its trace and actions in step."""

    def __init__(
        self,
        run: _Run,
        enrollment: _Enrollment,
        result: Plan,
        before: ContactView,
        event: EventRecord | None,
        vetoed: Mapping[str, str],
        zone: ZoneInfo,
        entered: str | None,
    ) -> None:
        self.run = run
        self.enrollment = enrollment
        self.result = result
        self.event = event
        self.vetoed = vetoed
        self.zone = zone
        self.entered = entered
        self.queue = list(result.actions)
        state = enrollment.state
        events = before.events
        if event is not None and event not in events:
            events = (*events, event)
        # The view the planner's steps saw, rebuilt as the plan's actions apply.
        self.view = dataclasses.replace(
            before, entry=state.entry, entered_at=state.entered_at, events=events
        )

    def add(self, step: str, action: TimelineAction, detail: Mapping[str, Any]) -> TimelineEntry:
        return self.run.add(self.result.at, step, action, detail, self.enrollment.number, self.zone)

    def pop(self, kinds: tuple[type, ...], step: str | None, *, one: bool = False) -> list[Action]:
        """Take the actions at the head of the queue that a note announced."""
        taken: list[Action] = []
        while self.queue and isinstance(self.queue[0], kinds):
            if step is not None and getattr(self.queue[0], "step", None) != step:
                break
            taken.append(self.queue.pop(0))
            if one:
                break
        return taken

    def emit(self) -> None:
        notes = self.result.trace
        current = self.enrollment.state.step
        for i, note in enumerate(notes):
            step = note.step or current
            what = note.what
            if note.step is not None:
                self.run.visited.add(note.step)
            if (
                i == 0
                and what == "event"
                and self.event is not None
                and note.why.startswith("event '")
            ):
                continue
            if what == "goal":
                for action in self.pop((ReachGoal,), None, one=True):
                    assert isinstance(action, ReachGoal)
                    self.add(step, "goal", {"goal": action.goal_id, "why": note.why})
            elif what == "exit":
                detail: dict[str, Any] = {"why": note.why}
                for action in self.pop((Exit,), None, one=True):
                    assert isinstance(action, Exit)
                    detail = {"reason": action.reason, "why": note.why}
                if self.run.explain and note.why.startswith("exit_when["):
                    detail["explain"] = self.exit_when(note.why)
                self.add(step, "exit", detail)
            elif what in ("wait", "wait_for", "defer"):
                self.hold(step, note.what, note.why, i == len(notes) - 1)
            elif what in ("branch", "split", "timeout", "event", "migrate"):
                self.branch(step, what, note.why, notes[i + 1 :])
            elif what in ("if_past", "skip"):
                reason = "if_past" if what == "if_past" else _skip_reason(note.why)
                self.add(step, "skip", {"reason": reason, "why": note.why})
            elif what not in ("wake", "exited"):
                actions = self.pop(_PLAIN, note.step)
                for action in actions:
                    self.action(step, action, note.why)
        for action in self.queue:  # anything the trace did not announce (none expected)
            self.action(getattr(action, "step", None) or current, action, "")

    def action(self, step: str, action: Action, why: str) -> None:
        fields = dataclasses.fields(action)
        body = {f.name.rstrip("_"): _jsonable(getattr(action, f.name)) for f in fields}
        detail = {
            k: v for k, v in body.items() if k not in _DROPPED and v not in (None, {}, [], ())
        }
        if why:
            detail["why"] = why
        if isinstance(action, SendEmail):
            vetoed = self.vetoed.get(action.idempotency_key)
            if vetoed is not None:
                self.add(step, "skip", self.vetoed_detail(action, vetoed))
                return
            preview = render_preview(action.subject, self.view)
            if preview != action.subject:
                detail["preview"] = preview
            if self.run.explain and action.frequency_cap is not None:
                cap = action.frequency_cap
                window = [s for s in self.run.sent if s.at > self.result.at - cap.per]
                detail["explain"] = [
                    f"frequency cap {cap.max} per {format_duration(cap.per)} "
                    f"(scope {cap.scope}, on_limit {cap.on_limit}): {len(window)} sent in "
                    "the window, counting this one; sends of other journeys are not simulated"
                ]
        elif isinstance(action, Exit):
            detail.pop("reason", None)
            detail = {"reason": action.reason, **detail}
        self.view = apply_action(self.view, action, self.result.at)
        self.add(step, _ACTION_NAMES[type(action)], detail)

    def vetoed_detail(self, send: SendEmail, reason: str) -> dict[str, Any]:
        if reason == "no_consent":
            why = f"not sent: the contact is not subscribed to topic '{send.topic}' (no consent)"
        else:
            cap = send.frequency_cap
            limit = f"{cap.max} per {format_duration(cap.per)}" if cap else "the cap"
            why = f"not sent: frequency cap {limit} reached (on_limit: skip)"
        return {"reason": reason, "template": send.template, "subject": send.subject, "why": why}

    def hold(self, step: str, what: str, why: str, last: bool) -> None:
        state = self.result.state
        if not last or state.wait_started_at is None:
            return
        if schedule.utc(state.wait_started_at) != self.result.at:
            return  # still in a hold that began earlier: nothing new happened
        wake = self.result.wake_at
        detail: dict[str, Any] = {"until": wake.astimezone(self.zone) if wake else None, "why": why}
        if what == "defer":
            detail["reason"] = _defer_reason(why)
        if what == "wait_for" and self.result.waiting_on is not None:
            detail["event"] = self.result.waiting_on.event
        self.add(step, "wait", detail)

    def branch(self, step: str, what: str, why: str, later: Sequence[Any]) -> None:
        target = next((n.step for n in later if n.step not in (None, step)), None)
        if target is None:
            target = self.result.state.step
        detail: dict[str, Any] = {"to": target, "why": why}
        if what == "split":
            detail["path"] = self.result.state.assignments.get(step)
        elif what in ("event", "timeout"):
            detail["exit"] = "on_event" if what == "event" else "on_timeout"
        elif what == "migrate":
            detail["exit"] = "migrate"
        spec_step = self.run.spec.steps.get(step)
        if self.run.explain and isinstance(spec_step, BranchStep):
            detail["explain"] = self.branch_leaves(spec_step)
        if self.run.explain and isinstance(spec_step, WaitForStep) and what == "timeout":
            detail["explain"] = [f"no '{spec_step.event}' event arrived before the timeout"]
        entry = self.add(step, "branch", detail)
        self.run.decisions.append((entry, step))

    def branch_leaves(self, step: BranchStep) -> list[dict[str, Any]]:
        now = self.result.at
        if step.if_ is not None:
            return explain_condition(step.if_, self.view, now)
        found: list[dict[str, Any]] = []
        for i, case in enumerate(step.cases or ()):
            for leaf in explain_condition(case.when, self.view, now):
                found.append({"case": i + 1, **leaf})
        return found

    def exit_when(self, why: str) -> list[dict[str, Any]]:
        index = int(why.split("[", 1)[1].split("]", 1)[0])
        entered = schedule.utc(self.enrollment.state.entered_at)
        view = dataclasses.replace(
            self.view,
            events=tuple(e for e in self.view.events if schedule.utc(e.occurred_at) >= entered),
        )
        return explain_condition(self.run.spec.exit_when[index], view, self.result.at, self.event)


def _ended(state: EnrollmentState) -> str:
    if state.exited:
        return f"the enrollment ended at '{state.step}' ({state.exit_reason}) before this step"
    return f"the simulation ended while the contact was at '{state.step}'"


def _skip_reason(why: str) -> str:
    if "quiet hours" in why:
        return "quiet_hours"
    if "window" in why:
        return "send_window"
    return "skipped"


def _defer_reason(why: str) -> str:
    if "frequency cap" in why:
        return "frequency_cap"
    if "quiet hours" in why:
        return "quiet_hours"
    return "send_window"


# --- explaining conditions -----------------------------------------------------------------


def explain_condition(
    condition: Condition,
    contact: ContactView,
    now: datetime,
    event: EventRecord | None = None,
) -> list[dict[str, Any]]:
    """Return every leaf of ``condition`` with whether it holds and, where useful, why.

    Each item is ``{"condition": "subscribed: marketing_email", "holds": False, "why":
    "not subscribed to 'marketing_email' (no consent)"}``; a leaf under ``not`` is
    listed as itself (``holds`` is the leaf's own value) with ``"negated": True``.
    """
    found: list[dict[str, Any]] = []

    def walk(node: Condition, negated: bool) -> None:
        if isinstance(node, AllOf):
            for child in node.all:
                walk(child, negated)
        elif isinstance(node, AnyOf):
            for child in node.any:
                walk(child, negated)
        elif isinstance(node, NotOf):
            walk(node.not_, not negated)
        else:
            holds = compile_condition(node)(contact, now, event)
            item: dict[str, Any] = {"condition": show_condition(node), "holds": holds}
            if negated:
                item["negated"] = True
            why = _leaf_why(node, contact, holds)
            if why:
                item["why"] = why
            found.append(item)

    walk(condition, False)
    return found


def _leaf_why(node: Condition, contact: ContactView, holds: bool) -> str | None:
    if isinstance(node, SubscribedLeaf):
        if holds:
            return f"subscribed to '{node.subscribed}'"
        return f"not subscribed to '{node.subscribed}' (no consent)"
    if isinstance(node, AttrLeaf | EntryLeaf):
        document = contact.attributes if isinstance(node, AttrLeaf) else contact.entry
        path = node.attr if isinstance(node, AttrLeaf) else node.entry
        value = lookup(document, path)
        if value is MISSING:
            return f"'{path}' is missing"
        return f"'{path}' is {json.dumps(_jsonable(value), ensure_ascii=False)}"
    if isinstance(node, ScoreLeaf):
        return f"score ({node.model}) is {contact.scores.get(node.model, 0):g}"
    return None


def show_condition(condition: Condition) -> str:
    """Render a condition compactly, as it is written in YAML flow style."""
    data = condition.model_dump(mode="json", by_alias=True, exclude_unset=True)
    # What the leaf looks at first (attr: x, in: …), as people write it.
    ordered = {k: data[k] for k in CONDITION_KEYS if k in data}
    return _flow({**ordered, **data}, top=True)


def _flow(value: Any, *, top: bool = False) -> str:
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {_flow(v)}" for k, v in value.items())
        return inner if top else "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# --- scenario expectations -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expectation:
    """One expected (or forbidden) timeline entry; unset fields match anything.

    ``at`` must equal the entry's time; ``within`` bounds it from the simulation
    start; ``detail`` must be a subset of the entry's detail (nested objects too).
    """

    action: str | None = None
    step: str | None = None
    at: datetime | None = None
    within: timedelta | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str = "expect") -> Expectation:
        """Read ``{action, step, at?, within?, detail?}``; raise ``InvalidInput`` naming the field."""
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"{where}: an expectation is a mapping such as {{action: send_email, step: welcome}}"
            )
        unknown = sorted(set(data) - {"action", "step", "at", "within", "detail"})
        if unknown:
            raise InvalidInput(
                f"{where}: unknown key {', '.join(map(repr, unknown))} "
                "(use action, step, at, within, detail)"
            )
        action = data.get("action")
        if action is not None and action not in ACTIONS:
            raise InvalidInput(f"{where}.action: {action!r} is not one of {', '.join(ACTIONS)}")
        if action is None and data.get("step") is None:
            raise InvalidInput(f"{where}: name at least an 'action' or a 'step'")
        at = parse_instant(data["at"], f"{where}.at") if data.get("at") is not None else None
        within = None
        if data.get("within") is not None:
            try:
                within = parse_duration(str(data["within"]))
            except ValueError as exc:
                raise InvalidInput(f"{where}.within: {exc}") from None
        detail = data.get("detail") or {}
        if not isinstance(detail, Mapping):
            raise InvalidInput(f"{where}.detail: must be a mapping")
        step = data.get("step")
        return cls(
            action=action,
            step=str(step) if step is not None else None,
            at=at,
            within=within,
            detail=_jsonable(detail),
        )

    def matches(self, entry: TimelineEntry, start: datetime) -> bool:
        """Say whether ``entry`` is what this expectation describes."""
        if self.action is not None and entry.action != self.action:
            return False
        if self.step is not None and entry.step != self.step:
            return False
        if self.at is not None and entry.at != self.at:
            return False
        if self.within is not None and entry.at > start + self.within:
            return False
        return _subset(self.detail, _jsonable(entry.detail))

    def describe(self) -> str:
        """Render this expectation for a failure message."""
        parts = [f"{k}: {v}" for k, v in (("action", self.action), ("step", self.step)) if v]
        if self.at is not None:
            parts.append(f"at: {self.at.isoformat()}")
        if self.within is not None:
            parts.append(f"within: {format_duration(self.within)}")
        if self.detail:
            parts.append(f"detail: {_flow(dict(self.detail))}")
        return "{" + ", ".join(parts) + "}"


def check_expectations(
    simulation: Simulation,
    expect: Sequence[Expectation],
    expect_not: Sequence[Expectation] = (),
) -> list[str]:
    """Return what fails: ``expect`` must appear in this order, ``expect_not`` never."""
    problems: list[str] = []
    entries = simulation.entries
    position = 0
    for i, expected in enumerate(expect):
        found = next(
            (
                j
                for j in range(position, len(entries))
                if expected.matches(entries[j], simulation.start)
            ),
            None,
        )
        if found is None:
            anywhere = any(expected.matches(e, simulation.start) for e in entries)
            where = " (it happens, but before the previous expectation)" if anywhere else ""
            near = [
                describe_entry(e)
                for e in entries
                if expected.action in (None, e.action) or expected.step in (None, e.step)
            ]
            hint = f"; closest entries: {'; '.join(near[:4])}" if near else ""
            problems.append(f"expect[{i}] {expected.describe()} did not happen{where}{hint}")
        else:
            position = found + 1
    for i, forbidden in enumerate(expect_not):
        for entry in entries:
            if forbidden.matches(entry, simulation.start):
                problems.append(
                    f"expect_not[{i}] {forbidden.describe()} happened: {describe_entry(entry)}"
                )
                break
    return problems


def describe_entry(entry: TimelineEntry) -> str:
    """Render one entry on one line: ``2026-03-09T09:00:00+09:00 welcome send_email welcome``."""
    detail = entry.detail
    label = detail.get("template") or detail.get("to") or detail.get("reason") or detail.get("goal")
    return f"{entry.local.isoformat()} {entry.step} {entry.action}" + (f" {label}" if label else "")


# --- cron ------------------------------------------------------------------------------------

_CRON_NAMES = {
    3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    4: ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_field(text: str, index: int) -> frozenset[int]:
    low, high = _CRON_RANGES[index]
    names = _CRON_NAMES.get(index, ())
    first = 1 if index == 3 else 0

    def number(token: str) -> int:
        if token.lower() in names:
            return names.index(token.lower()) + first
        return int(token)

    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            lo, hi = low, high
        else:
            a, dash, b = base.partition("-")
            lo = number(a)
            hi = number(b) if dash else (high if step_text else lo)
        values.update(range(lo, hi + 1, step))
    if index == 4 and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


def next_cron_fire(expression: str, after: datetime, zone: ZoneInfo) -> datetime | None:
    """Return the first instant ≥ ``after`` matching the five-field cron in ``zone``.

    Day-of-month and day-of-week combine as in cron: when both are restricted, either
    may match. Local times in a DST gap fire when the clocks jump. None when nothing
    matches within four years (``0 0 30 2 *``).
    """
    fields = expression.split()
    minutes, hours, days, months, weekdays = (_cron_field(f, i) for i, f in enumerate(fields))
    any_day, any_weekday = fields[2] == "*", fields[4] == "*"
    after = schedule.utc(after)
    local = schedule.wall(after, zone)
    day = local.date()
    for _ in range(4 * 366 + 1):
        cron_weekday = (day.weekday() + 1) % 7
        first = day == local.date()
        if day.month in months and _day_matches(
            day, cron_weekday, days, weekdays, any_day, any_weekday
        ):
            for hour in sorted(h for h in hours if not first or h >= local.hour):
                for minute in sorted(minutes):
                    if first and hour == local.hour and minute < local.minute:
                        continue
                    moment = schedule.at_local(day, time(hour, minute), zone)
                    if moment >= after:
                        return moment
        day += timedelta(days=1)
    return None


def _day_matches(
    day: date,
    weekday: int,
    days: frozenset[int],
    weekdays: frozenset[int],
    any_day: bool,
    any_weekday: bool,
) -> bool:
    if any_day and any_weekday:
        return True
    if any_day:
        return weekday in weekdays
    if any_weekday:
        return day.day in days
    return day.day in days or weekday in weekdays


# --- helpers -------------------------------------------------------------------------------


def _key(
    trigger: Any, entry: Mapping[str, Any], attributes: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    paths = getattr(trigger, "key", None)
    if not paths:
        return None
    source = attributes if isinstance(trigger, DateTrigger) else entry
    return tuple(_jsonable(_none(lookup(source, p))) for p in paths)


def _key_text(key: tuple[Any, ...] | None) -> str:
    return "" if key is None else json.dumps(list(key), ensure_ascii=False, default=str)


def _none(value: Any) -> Any:
    return None if value is MISSING else value


def _snapshot(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _snapshot(v) if isinstance(v, Mapping) else v for k, v in attributes.items()}


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, float | int) and isinstance(actual, float | int):
        return float(expected) == float(actual)
    return bool(expected == actual)


_PLACEHOLDER = re.compile(r"\{\{\s*(contact|entry)\.([\w\-.]+)\s*(\|[^}]*)?\}\}")


def render_preview(text: str, contact: ContactView) -> str:
    """Fill ``{{ contact.x }}`` and ``{{ entry.x }}`` placeholders from the contact (filters ignored).

    A preview for people reading a simulation, not the mailer's renderer: unknown
    values keep their placeholder.
    """

    def fill(match: re.Match[str]) -> str:
        scope, path = match.group(1), match.group(2)
        if scope == "contact" and path == "score":
            return f"{contact.scores.get('default', 0):g}"
        value = lookup(contact.attributes if scope == "contact" else contact.entry, path)
        return match.group(0) if value is MISSING else str(value)

    return _PLACEHOLDER.sub(fill, text)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name.rstrip("_"): _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, frozenset | set) else items
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"'{where}' must be a number, got {value!r}")
    return value


def _list(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"'{name}' must be a list")
    return value


def _names(data: Mapping[str, Any], name: str) -> list[str]:
    values = _list(data, name)
    for value in values:
        if not isinstance(value, str):
            raise InvalidInput(f"'{name}' must be a list of names, got {value!r}")
    return values


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _email_record(data: Any, where: str) -> EmailRecord:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{where}: an email record is {{activity, at, step?, template?}}")
    activity = data.get("activity")
    if activity not in ("sent", "opened", "clicked", "bounced", "unsubscribed"):
        raise InvalidInput(
            f"{where}.activity: {activity!r} is not sent, opened, clicked, bounced or unsubscribed"
        )
    return EmailRecord(
        activity,
        parse_instant(data.get("at"), f"{where}.at"),
        step=_text(data.get("step")),
        template=_text(data.get("template")),
        human=bool(data.get("human", True)),
    )
