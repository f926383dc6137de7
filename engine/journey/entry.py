"""Who may enter a journey, and with which correlation key: the entry rules, decided purely.

- ``audience`` and a trigger's ``where`` must hold.
- With ``concurrent: per_key`` each key is its own run of the journey (one cart, one
  contract term): ``reentry: never`` admits once per key, only a live enrollment with the
  same key blocks a new one, and the cooldown counts that key's enrollments. Without it,
  all of the contact's enrollments count.
- The cooldown runs from the last exit for ``after_exit`` and from the last entry otherwise;
  ``max_entries`` counts every enrollment of the contact, whatever its key.

The runtime and the simulator both decide with these functions, so a simulation predicts
what production does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.journey.contact_view import ContactView, EventRecord
from engine.journey.predicates import Predicate, compile_condition
from engine.journey.spec import Entry, JourneySpec
from engine.journey.triggers import EventTrigger, SegmentTrigger


@dataclass(frozen=True, slots=True)
class PriorEnrollment:
    """An earlier enrollment of the same contact in the same journey (any version)."""

    key: str
    entered_at: datetime
    exited_at: datetime | None

    @property
    def live(self) -> bool:
        """Say whether it is still running."""
        return self.exited_at is None


@dataclass(frozen=True, slots=True)
class EntryDecision:
    """Whether to enroll, under which key, with what entry data, and why.

    ``code`` names the rule that decided: ``entered``, ``where``, ``audience``, ``reentry``,
    ``already_enrolled``, ``max_entries`` or ``cooldown``.
    """

    enter: bool
    key: str
    entry: Mapping[str, Any]
    reason: str
    code: str = "entered"


class EntryRules:
    """A journey's entry conditions, compiled once per published version."""

    def __init__(self, spec: JourneySpec) -> None:
        """Compile the audience and every event trigger's ``where``."""
        self.spec = spec
        self.audience: Predicate | None = (
            compile_condition(spec.audience) if spec.audience is not None else None
        )
        self.event_triggers: tuple[tuple[EventTrigger, Predicate | None], ...] = tuple(
            (t, compile_condition(t.where) if t.where is not None else None)
            for t in spec.triggers
            if isinstance(t, EventTrigger)
        )
        self.segment_triggers = tuple(t for t in spec.triggers if isinstance(t, SegmentTrigger))

    @property
    def events(self) -> frozenset[str]:
        """The event names that may enroll someone (segment triggers' membership events too)."""
        return frozenset(t.event for t, _ in self.event_triggers) | frozenset(
            t.event for t in self.segment_triggers
        )

    def on_event(
        self,
        contact: ContactView,
        event: EventRecord,
        prior: Sequence[PriorEnrollment],
        now: datetime,
    ) -> EntryDecision | None:
        """Decide entry for an event; None when no trigger listens to its name."""
        listening = [(t, w) for t, w in self.event_triggers if t.event == event.name]
        entry = event_entry(event)
        segment = event.properties.get("segment")
        if any(t.event == event.name and t.segment == segment for t in self.segment_triggers):
            return self.admit(contact, prior, key="", entry=entry, now=now, event=event)
        if not listening:
            return None
        for trigger, where in listening:
            if where is None or where(contact, now, event):
                key = correlation_key(trigger.key, entry)
                return self.admit(contact, prior, key=key, entry=entry, now=now, event=event)
        key = correlation_key(listening[0][0].key, entry)
        return EntryDecision(False, key, entry, "the trigger's where does not hold", "where")

    def admit(
        self,
        contact: ContactView,
        prior: Sequence[PriorEnrollment],
        *,
        key: str,
        entry: Mapping[str, Any],
        now: datetime,
        event: EventRecord | None = None,
    ) -> EntryDecision:
        """Apply audience and re-entry rules to a contact a trigger selected."""
        if self.audience is not None and not self.audience(contact, now, event):
            return EntryDecision(False, key, entry, "not in the audience", "audience")
        refusal = reentry_refusal(self.spec.entry, prior, key=key, now=now)
        if refusal is not None:
            code, why = refusal
            return EntryDecision(False, key, entry, why, code)
        return EntryDecision(True, key, entry, "entered", "entered")


def reentry_refusal(
    rules: Entry, prior: Sequence[PriorEnrollment], *, key: str, now: datetime
) -> tuple[str, str] | None:
    """Return (code, why) when the entry rules refuse a new enrollment under ``key``, else None."""
    per_key = rules.concurrent == "per_key"
    which = "with this key " if per_key else ""
    same = [p for p in prior if not per_key or p.key == key]
    if rules.max_entries is not None and len(prior) >= rules.max_entries:
        return (
            "max_entries",
            f"already entered {len(prior)} times (max_entries: {rules.max_entries})",
        )
    if same and rules.reentry == "never":
        return "reentry", f"already entered {which}once (reentry: never)"
    if any(p.live for p in same):
        return "already_enrolled", f"an enrollment {which}is still running"
    if rules.cooldown is not None and same:
        if rules.reentry == "after_exit":
            exits = [p.exited_at for p in same if p.exited_at is not None]
            since, counted = (max(exits) if exits else None), "exit"
        else:
            since, counted = max(p.entered_at for p in same), "entry"
        if since is not None and now < since + rules.cooldown:
            until = (since + rules.cooldown).isoformat()
            return "cooldown", f"in cooldown until {until} (counted from the last {counted})"
    return None


def event_entry(event: EventRecord) -> dict[str, Any]:
    """The entry data of an event trigger: what ``entry.*`` refers to."""
    return {
        "name": event.name,
        "occurred_at": event.occurred_at.isoformat(),
        "properties": dict(event.properties),
    }


def correlation_key(paths: Sequence[str] | None, document: Mapping[str, Any]) -> str:
    """The key telling enrollments apart: the values at ``paths``, as compact JSON.

    No paths gives the empty key (one enrollment per contact); a missing value is null.
    """
    if not paths:
        return ""
    values = [_lookup(document, path) for path in paths]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str)


def _lookup(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
