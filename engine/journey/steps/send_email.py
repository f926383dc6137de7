"""``send_email``: send one template, optionally as weighted variants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from engine.journey.actions import Address, Advance, Decision, Hold, SendEmail
from engine.journey.base import Name, SpecModel
from engine.journey.catalog import unknown_name
from engine.journey.diagnostics import Finding, Path
from engine.journey.steps.base import ActionStep, PlanContext, StepContext
from engine.journey.steps.split import Weight, choose, unique_names, weights_sum_to_100

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

    def over(self, base: Respect | None) -> Respect:
        """Return ``base`` with the fields written here taking precedence."""
        if base is None:
            return self
        return base.model_copy(update={k: getattr(self, k) for k in self.model_fields_set})


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

    def plan(self, ctx: PlanContext) -> Decision:
        """Send now, defer to the next allowed moment, or skip in quiet hours (``on_quiet: skip``).

        The variant is a sticky weighted pick per contact; ``from``, ``reply_to``,
        ``topic`` and ``respect`` fall back to ``defaults.send_email``. The frequency
        cap is not decided here: its policy rides on the action for the middleware.
        """
        defaults = ctx.email_defaults
        respect = (self.respect or Respect.model_construct()).over(
            defaults.respect if defaults else None
        )
        timing = ctx.send_timing(respect)
        if timing.kind == "defer":
            return Hold(timing.at, f"not sent yet: {timing.why}", what="defer")
        if timing.kind == "skip":
            return self.advance(why=f"not sent: {timing.why}", what="skip")
        variant = self._variant(ctx)
        sender = self.from_ or (defaults.from_ if defaults else None)
        action = SendEmail(
            step=ctx.step_id,
            template=(variant.template if variant and variant.template else self.template),
            subject=(variant.subject if variant and variant.subject else self.subject),
            variant=variant.id if variant else None,
            from_=Address(sender.email, sender.name) if sender else None,
            reply_to=self.reply_to or (defaults.reply_to if defaults else None),
            topic=self.topic or (defaults.topic if defaults else None),
            idempotency_key=ctx.idempotency_key,
            frequency_cap=ctx.frequency_cap(respect),
        )
        why = f"sent '{action.template}'" + (f" (variant {action.variant})" if variant else "")
        decision = self.advance(action, why=why, what="send")
        if variant is not None and isinstance(decision, Advance):
            return Advance(decision.next, decision.actions, why, "send", assign=variant.id)
        return decision

    def _variant(self, ctx: PlanContext) -> Variant | None:
        if not self.variants:
            return None
        earlier = ctx.state.assignments.get(ctx.step_id)
        for variant in self.variants:
            if variant.id == earlier:
                return variant
        bucket = ctx.bucket(f"{ctx.step_id}#variant", per_contact=True)
        return self.variants[choose(bucket, [v.weight for v in self.variants])]
