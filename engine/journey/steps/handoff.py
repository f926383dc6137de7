"""``handoff``: pass a sales-ready contact to a person, with a fallback when nobody is free."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from engine.journey.actions import Decision, Handoff
from engine.journey.base import AttrPath, Name, SpecModel
from engine.journey.catalog import unknown_name
from engine.journey.diagnostics import Finding, Path
from engine.journey.durations import Duration
from engine.journey.steps.base import ActionStep, PlanContext, StepContext

POOLED = ("round_robin", "least_loaded", "territory")


class Fallback(SpecModel):
    """Who gets the contact when the strategy finds nobody: one user, pool or role."""

    user: str | None = None
    pool: Name | None = None
    role: Name | None = None


class Assign(SpecModel):
    """How an owner is picked."""

    strategy: Literal["round_robin", "least_loaded", "territory", "account_owner"]
    pool: Name | None = None
    skip_unavailable: bool = True
    fallback: Fallback | None = None


class Crm(SpecModel):
    """What to create in the CRM and which fields to sync."""

    create: Literal["lead", "contact", "deal", "task"]
    sync_fields: tuple[AttrPath, ...] = ()


class Task(SpecModel):
    """A follow-up task for the new owner; ``due`` counts from the handoff."""

    title: str
    due: Duration | None = None


class HandoffNotify(SpecModel):
    """How the new owner hears about it."""

    channel: Literal["email", "slack", "in_app"] = "email"
    template: Name | None = None
    message: str | None = None


class HandoffStep(ActionStep):
    """Assign an owner, optionally create a CRM record and a task, and notify."""

    type: Literal["handoff"]
    assign: Assign
    crm: Crm | None = None
    task: Task | None = None
    notify: HandoffNotify | None = None

    def check(self, ctx: StepContext, path: Path) -> Iterator[Finding]:
        """Require a fallback and a pool where the strategy needs one; check pools exist."""
        assign, at = self.assign, (*path, "assign")
        if assign.strategy in POOLED and assign.pool is None:
            yield Finding("E408", at, f"strategy '{assign.strategy}' needs a 'pool'")
        if assign.fallback is None:
            yield Finding(
                "E405",
                at,
                "a handoff needs a 'fallback' (user, pool or role) for when nobody is free",
            )
        else:
            given = [k for k in ("user", "pool", "role") if getattr(assign.fallback, k)]
            if len(given) != 1:
                yield Finding(
                    "E408", (*at, "fallback"), "a fallback names exactly one user, pool or role"
                )
        pools = [(assign.pool, (*at, "pool"))]
        if assign.fallback is not None:
            pools.append((assign.fallback.pool, (*at, "fallback", "pool")))
        for pool, sub in pools:
            if pool is None:
                continue
            found = unknown_name(ctx.catalog.pools, pool, code="E205", path=sub, what="sales pool")
            if found:
                yield found
        if self.notify is not None and self.notify.template is not None:
            found = unknown_name(
                ctx.catalog.templates,
                self.notify.template,
                code="E202",
                path=(*path, "notify", "template"),
                what="template",
            )
            if found:
                yield found

    def plan(self, ctx: PlanContext) -> Decision:
        """Ask for the handoff; the task falls due ``task.due`` after now."""
        fallback = (
            self.assign.fallback.model_dump(exclude_none=True) if self.assign.fallback else {}
        )
        task_due = None
        if self.task is not None and self.task.due is not None:
            task_due = ctx.now + self.task.due
        action = Handoff(
            step=ctx.step_id,
            strategy=self.assign.strategy,
            pool=self.assign.pool,
            skip_unavailable=self.assign.skip_unavailable,
            fallback={k: str(v) for k, v in fallback.items()},
            crm=self.crm.model_dump(mode="json") if self.crm else None,
            task_title=self.task.title if self.task else None,
            task_due=task_due,
            notify=self.notify.model_dump(mode="json", exclude_none=True) if self.notify else None,
            idempotency_key=ctx.idempotency_key,
        )
        target = self.assign.pool or self.assign.strategy
        return self.advance(action, why=f"hand off via {target}", what="handoff")
