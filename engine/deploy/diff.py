"""What changed between two versions of a journey, step by step, in words a marketer reads.

The comparison runs over the specs' JSON form (``spec_json``), so it sees what the engine
sees: reordering keys, comments or formatting changes nothing, while a changed subject line
or a new trigger shows up by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.journey import JourneySpec

SETTINGS_ORDER = (
    "name",
    "description",
    "triggers",
    "audience",
    "entry",
    "timezone",
    "send_window",
    "quiet_hours",
    "frequency_cap",
    "defaults",
    "exit_when",
    "goals",
    "start",
)
"""Top-level keys in the order the DSL documents them; others follow alphabetically."""
_NOT_SETTINGS = frozenset({"steps", "migrate", "version", "dsl", "id"})


def spec_json(spec: JourneySpec) -> dict[str, Any]:
    """Return the spec as JSON that ``JourneySpec.model_validate`` reads back unchanged.

    ``by_alias`` keeps keys as written in YAML (``from``, ``in``) and ``exclude_none`` drops
    the unset operator slots of conditions: a plain ``model_dump(mode="json")`` does neither
    and cannot be validated again.
    """
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass(frozen=True, slots=True)
class StepChange:
    """One step added, removed or changed; ``fields`` names the keys that differ."""

    step: str
    type: str
    fields: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"step": self.step, "type": self.type, "fields": list(self.fields)}


@dataclass(frozen=True, slots=True)
class JourneyDiff:
    """The structural difference between a journey's active version and a candidate.

    ``settings`` lists changed top-level keys (triggers, audience, entry, send window...);
    ``migrate`` is the candidate's map from old step ids to new ones.
    """

    new_journey: bool
    added: tuple[StepChange, ...] = ()
    removed: tuple[StepChange, ...] = ()
    changed: tuple[StepChange, ...] = ()
    settings: tuple[str, ...] = ()
    migrate: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Say whether nothing the engine reads differs (only comments or layout changed)."""
        return not (self.added or self.removed or self.changed or self.settings or self.migrate)

    def summary(self) -> str:
        """Return a one-line summary: ``+1 step, ~2 steps; triggers changed; migrate 1``."""
        if self.new_journey:
            count = len(self.added)
            return f"new journey, {count} step{'s' * (count != 1)}"
        if self.empty:
            return "no structural change (comments or layout)"
        parts = [
            f"{sign}{len(items)} step{'s' * (len(items) != 1)}"
            for sign, items in (("+", self.added), ("-", self.removed), ("~", self.changed))
            if items
        ]
        text = ", ".join(parts)
        if self.settings:
            text += ("; " if text else "") + f"{', '.join(self.settings)} changed"
        if self.migrate:
            text += ("; " if text else "") + f"migrate {len(self.migrate)}"
        return text

    def lines(self) -> list[str]:
        """Return one readable line per change, steps first, for ``nurture journeys diff``."""
        if self.empty:
            return [] if self.new_journey else [self.summary()]
        found = [f"+ step {c.step} ({c.type})" for c in self.added]
        found += [f"- step {c.step} ({c.type})" for c in self.removed]
        found += [f"~ step {c.step} ({c.type}): {', '.join(c.fields)}" for c in self.changed]
        found += [f"~ {name}" for name in self.settings]
        found += [f"→ migrate {old} → {new}" for old, new in self.migrate.items()]
        return found

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict for the admin UI."""
        return {
            "new_journey": self.new_journey,
            "summary": self.summary(),
            "steps_added": [c.to_json() for c in self.added],
            "steps_removed": [c.to_json() for c in self.removed],
            "steps_changed": [c.to_json() for c in self.changed],
            "settings_changed": list(self.settings),
            "migrate": dict(self.migrate),
        }


def diff_specs(old: JourneySpec | None, new: JourneySpec) -> JourneyDiff:
    """Compare ``new`` with ``old`` (None: a journey deployed for the first time)."""
    after = spec_json(new)
    new_steps: dict[str, dict[str, Any]] = after.get("steps", {})
    if old is None:
        return JourneyDiff(
            new_journey=True,
            added=tuple(StepChange(n, _type(s)) for n, s in new_steps.items()),
        )
    before = spec_json(old)
    old_steps: dict[str, dict[str, Any]] = before.get("steps", {})
    changed = []
    for name, step in new_steps.items():
        if name in old_steps and old_steps[name] != step:
            changed.append(StepChange(name, _type(step), _changed_keys(old_steps[name], step)))
    return JourneyDiff(
        new_journey=False,
        added=tuple(StepChange(n, _type(s)) for n, s in new_steps.items() if n not in old_steps),
        removed=tuple(StepChange(n, _type(s)) for n, s in old_steps.items() if n not in new_steps),
        changed=tuple(changed),
        settings=_ordered(k for k in _changed_keys(before, after) if k not in _NOT_SETTINGS),
        migrate=dict(new.migrate or {}),
    )


def _type(step: Mapping[str, Any]) -> str:
    return str(step.get("type", "?"))


def _changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    keys = dict.fromkeys([*before, *after])
    return tuple(k for k in keys if before.get(k) != after.get(k))


def _ordered(keys: Any) -> tuple[str, ...]:
    names = set(keys)
    known = [k for k in SETTINGS_ORDER if k in names]
    return (*known, *sorted(names - set(known)))
