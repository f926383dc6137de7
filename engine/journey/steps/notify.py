"""``notify``: an internal message to a colleague (never to the contact)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from engine.journey.actions import Decision, Notify
from engine.journey.base import Name, SpecModel
from engine.journey.catalog import unknown_name
from engine.journey.diagnostics import Finding, Path
from engine.journey.steps.base import ActionStep, PlanContext, StepContext


class Recipient(SpecModel):
    """Exactly one of: a user, the owner of the contact or account, or a role."""

    user: str | None = None
    owner_of: Literal["contact", "account"] | None = None
    role: Name | None = None


class NotifyStep(ActionStep):
    """Tell a colleague something, by ``message`` text or ``template``."""

    type: Literal["notify"]
    to: Recipient
    channel: Literal["email", "slack", "in_app"] = "email"
    message: str | None = None
    template: Name | None = None

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require one recipient and one of message or template."""
        given = [k for k in ("user", "owner_of", "role") if getattr(self.to, k) is not None]
        if len(given) != 1:
            yield Finding("E408", (*path, "to"), "'to' names exactly one of user, owner_of or role")
        if (self.message is None) == (self.template is None):
            yield Finding("E408", path, "notify needs exactly one of 'message' or 'template'")
        if self.template is not None:
            found = unknown_name(
                ctx.catalog.templates,
                self.template,
                code="E202",
                path=(*path, "template"),
                what="template",
            )
            if found:
                yield found

    def plan(self, ctx: PlanContext) -> Decision:
        """Ask for the internal message."""
        to = {k: str(v) for k, v in self.to.model_dump(exclude_none=True).items()}
        action = Notify(
            ctx.step_id, to, self.channel, self.message, self.template, ctx.idempotency_key
        )
        return self.advance(action, why=f"notify {to} by {self.channel}", what="notify")
