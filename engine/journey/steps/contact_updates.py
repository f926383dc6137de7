"""Steps that change the contact: ``update_contact``, ``tag`` and ``score``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from engine.journey.actions import AdjustScore, Decision, Tag, UpdateContact
from engine.journey.base import AttrPath, Name
from engine.journey.conditions import Value
from engine.journey.diagnostics import Finding, Path, did_you_mean
from engine.journey.steps.base import ActionStep, PlanContext, StepContext


class UpdateContactStep(ActionStep):
    """Set, unset or increment contact attributes."""

    type: Literal["update_contact"]
    set: Mapping[str, Value] | None = None
    unset: tuple[AttrPath, ...] | None = None
    increment: Mapping[str, float] | None = None

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require a change, and known attributes when the contact schema is given."""
        if not (self.set or self.unset or self.increment):
            yield Finding("E408", path, "update_contact needs 'set', 'unset' or 'increment'")
        known = ctx.catalog.attributes
        if known is None:
            return
        named: list[tuple[str, Path]] = [(k, ("set", k)) for k in self.set or {}]
        named += [(k, ("unset", i)) for i, k in enumerate(self.unset or ())]
        named += [(k, ("increment", k)) for k in self.increment or {}]
        for attribute, sub in named:
            if attribute not in known:
                yield Finding(
                    "E210",
                    (*path, *sub),
                    f"unknown contact attribute '{attribute}'{did_you_mean(attribute, known)}",
                    at_key=sub[0] != "unset",
                )

    def plan(self, ctx: PlanContext) -> Decision:
        """Ask for the change, with ``{ref: …}`` values resolved now."""
        action = UpdateContact(
            step=ctx.step_id,
            set={k: ctx.resolve(v) for k, v in (self.set or {}).items()},
            unset=tuple(self.unset or ()),
            increment=dict(self.increment or {}),
            idempotency_key=ctx.idempotency_key,
        )
        changed = [*action.set, *action.unset, *action.increment]
        return self.advance(action, why=f"update {', '.join(changed)}", what="update_contact")


class TagStep(ActionStep):
    """Add or remove tags."""

    type: Literal["tag"]
    add: tuple[Name, ...] | None = None
    remove: tuple[Name, ...] | None = None

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require something to add or remove."""
        if not (self.add or self.remove):
            yield Finding("E408", path, "tag needs 'add' or 'remove'")

    def plan(self, ctx: PlanContext) -> Decision:
        """Ask for the tags to be added and removed."""
        action = Tag(ctx.step_id, self.add or (), self.remove or (), ctx.idempotency_key)
        why = f"tag +{list(action.add)} -{list(action.remove)}"
        return self.advance(action, why=why, what="tag")


class ScoreStep(ActionStep):
    """Adjust a lead score (``+10``) in a scoring ``model``, with a ``reason`` for sales."""

    type: Literal["score"]
    adjust: int
    model: Name = "default"
    reason: str | None = None

    def plan(self, ctx: PlanContext) -> Decision:
        """Ask for the score adjustment."""
        action = AdjustScore(ctx.step_id, self.adjust, self.model, self.reason, ctx.idempotency_key)
        return self.advance(action, why=f"score {self.adjust:+d} ({self.model})", what="score")
