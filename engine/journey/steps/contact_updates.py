"""Steps that change the contact: ``update_contact``, ``tag`` and ``score``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from engine.journey.base import AttrPath, Name
from engine.journey.conditions import Value
from engine.journey.diagnostics import Finding, Path, did_you_mean
from engine.journey.steps.base import ActionStep, StepContext


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


class TagStep(ActionStep):
    """Add or remove tags."""

    type: Literal["tag"]
    add: tuple[Name, ...] | None = None
    remove: tuple[Name, ...] | None = None

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require something to add or remove."""
        if not (self.add or self.remove):
            yield Finding("E408", path, "tag needs 'add' or 'remove'")


class ScoreStep(ActionStep):
    """Adjust a lead score (``+10``) in a scoring ``model``, with a ``reason`` for sales."""

    type: Literal["score"]
    adjust: int
    model: Name = "default"
    reason: str | None = None
