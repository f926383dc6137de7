"""``send_email``: send one template, optionally as weighted variants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from engine.journey.base import Name, SpecModel
from engine.journey.catalog import unknown_name
from engine.journey.diagnostics import Finding, Path
from engine.journey.steps.base import ActionStep, StepContext
from engine.journey.steps.split import Weight, unique_names, weights_sum_to_100

Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
"""An email address (checked for shape only; delivery is the mailer's business)."""


class Sender(SpecModel):
    """Who the mail is from: ``{name: Acme Team, email: hello@acme.io}``."""

    name: str | None = None
    email: Email


class Respect(SpecModel):
    """Which journey-wide limits this send obeys (a last reminder may skip the cap)."""

    quiet_hours: bool = True
    send_window: bool = True
    frequency_cap: bool = True


class Variant(SpecModel):
    """An A/B variant; unset fields fall back to the step's."""

    id: Name
    weight: Weight
    subject: str | None = None
    template: Name | None = None


class SendEmailStep(ActionStep):
    """Send a template to the contact; ``from`` falls back to ``defaults.send_email.from``."""

    type: Literal["send_email"]
    template: Name
    subject: Annotated[str, StringConstraints(min_length=1)]
    from_: Sender | None = Field(default=None, alias="from")
    reply_to: Email | None = None
    topic: Name | None = None
    variants: tuple[Variant, ...] | None = None
    respect: Respect | None = None

    def templates(self) -> Iterator[tuple[str, Path]]:
        """Yield every template this step may send, with its path in the step."""
        yield self.template, ("template",)
        for i, variant in enumerate(self.variants or ()):
            if variant.template is not None:
                yield variant.template, ("variants", i, "template")

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Check templates, topic and variant weights."""
        for name, sub in self.templates():
            found = unknown_name(
                ctx.catalog.templates, name, code="E202", path=(*path, *sub), what="template"
            )
            if found:
                yield found
        if self.topic is not None:
            found = unknown_name(
                ctx.catalog.topics, self.topic, code="E204", path=(*path, "topic"), what="topic"
            )
            if found:
                yield found
        if self.variants is not None:
            yield from weights_sum_to_100([v.weight for v in self.variants], (*path, "variants"))
            yield from unique_names([v.id for v in self.variants], (*path, "variants"), "id")
