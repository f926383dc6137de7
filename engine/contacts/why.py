"""Why a contact did (or did not) get an email: load the facts, then decide purely.

The answer names the first reason found, in the order a send is blocked: a message row
that records its own fate, then the suppression list, then consent, then the journey's
enrollments. Where nothing records a reason, the answer says so ("no record").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.journey.steps import SendEmailStep
from engine.runtime.journeys import CompiledJourneys
from engine.store.models import (
    Enrollment,
    Journey,
    Message,
    Subscription,
    Suppression,
    TrackingEvent,
)


@dataclass(frozen=True, slots=True)
class MessageFact:
    """One message of the template to the contact, with its human opens and clicks."""

    status: str
    error: str | None
    queued_at: datetime
    sent_at: datetime | None
    journey_id: str | None
    step_id: str | None
    broadcast_id: str | None
    opens: int
    clicks: int


@dataclass(frozen=True, slots=True)
class EnrollmentFact:
    """An enrollment in a journey that sends the template, and the step that sends it."""

    journey_id: str
    send_step: str
    status: str
    step: str
    wake_at: datetime | None
    exit_reason: str | None
    exited_at: datetime | None


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the explanation reads, loaded once."""

    template: str
    topic: str | None
    messages: Sequence[MessageFact]
    suppressions: Mapping[str, tuple[str, datetime]]
    subscriptions: Mapping[str, tuple[bool, datetime]]
    sending_steps: Sequence[tuple[str, str]]
    enrollments: Sequence[EnrollmentFact]


@dataclass(frozen=True, slots=True)
class Explanation:
    """The first reason (a short code), a sentence, and the evidence lines behind it."""

    code: str
    reason: str
    evidence: tuple[str, ...]


_SKIPS = {
    "no_consent": "skipped: no consent for the topic",
    "frequency_cap": "skipped: frequency cap",
}


def explain(facts: Facts) -> Explanation:
    """Decide the first reason the template was or was not sent, from the facts alone."""
    evidence = tuple(_message_line(m) for m in facts.messages)
    sent = [m for m in facts.messages if m.status == "sent"]
    if sent:
        last = max(sent, key=lambda m: m.sent_at or m.queued_at)
        return Explanation(
            "sent",
            f"sent at {(last.sent_at or last.queued_at).isoformat()}"
            f" (human opens {last.opens}, clicks {last.clicks})",
            evidence,
        )
    if facts.messages:
        last = max(facts.messages, key=lambda m: m.queued_at)
        why = _SKIPS.get(last.error or "", last.error or "no reason recorded")
        return Explanation(last.status, f"a message was {last.status}: {why}", evidence)
    for scope in ("*", facts.topic):
        if scope is not None and scope in facts.suppressions:
            reason, since = facts.suppressions[scope]
            return Explanation(
                "suppressed",
                f"the address is suppressed ({reason}, scope {scope}) since {since.isoformat()}",
                evidence,
            )
    if facts.topic is not None:
        subscribed = facts.subscriptions.get(facts.topic)
        if subscribed is not None and not subscribed[0]:
            return Explanation(
                "unsubscribed",
                f"unsubscribed from {facts.topic} at {subscribed[1].isoformat()}",
                evidence,
            )
    if not facts.sending_steps:
        return Explanation(
            "no_journey", f"no active journey sends {facts.template} (no record)", evidence
        )
    if not facts.enrollments:
        journeys = ", ".join(sorted({j for j, _ in facts.sending_steps}))
        return Explanation(
            "never_enrolled",
            f"never enrolled in {journeys}; a refused entry is not recorded (no record)",
            evidence,
        )
    lines = evidence + tuple(_enrollment_line(e) for e in facts.enrollments)
    live = [e for e in facts.enrollments if e.status != "exited"]
    if live:
        e = live[0]
        until = f" until {e.wake_at.isoformat()}" if e.wake_at else ""
        return Explanation(
            "waiting",
            f"in {e.journey_id} at step {e.step}{until}, not yet at {e.send_step}",
            lines,
        )
    e = facts.enrollments[0]
    return Explanation(
        "exited",
        f"exited {e.journey_id} at step {e.step} ({e.exit_reason or 'no reason recorded'})"
        f" before {e.send_step}",
        lines,
    )


def _message_line(m: MessageFact) -> str:
    where = m.broadcast_id or f"{m.journey_id}/{m.step_id}"
    return f"message from {where}: {m.status} {m.error or ''} queued {m.queued_at.isoformat()}"


def _enrollment_line(e: EnrollmentFact) -> str:
    return f"enrollment in {e.journey_id}: {e.status} at {e.step} ({e.exit_reason or '-'})"


def load_facts(
    session: Session,
    contact_id: int,
    email: str,
    template: str,
    *,
    journeys: CompiledJourneys,
    now: datetime,
) -> Facts:
    """Read the contact's messages, suppressions, consent and enrollments for ``template``."""
    opens = func.count().filter(TrackingEvent.kind == "open")
    clicks = func.count().filter(TrackingEvent.kind == "click")
    messages = [
        MessageFact(*row)
        for row in session.execute(
            select(
                Message.status,
                Message.error,
                Message.queued_at,
                Message.sent_at,
                Message.journey_id,
                Message.step_id,
                Message.broadcast_id,
                opens,
                clicks,
            )
            .outerjoin(
                TrackingEvent,
                (TrackingEvent.message_id == Message.id)
                & (TrackingEvent.classification == "human"),
            )
            .where(Message.contact_id == contact_id, Message.template == template)
            .group_by(Message.id)
            .order_by(Message.queued_at)
        )
    ]
    steps: list[tuple[str, str]] = []
    topic: str | None = None
    for journey_id, version in session.execute(
        select(Journey.id, Journey.active_version).where(
            Journey.status == "active", Journey.active_version.is_not(None)
        )
    ):
        if version is None:
            continue
        spec = journeys.get(session, journey_id, version).spec
        for step_id, step in spec.steps.items():
            if isinstance(step, SendEmailStep) and template in {n for n, _ in step.templates()}:
                steps.append((journey_id, step_id))
                topic = topic or step.topic
    send_step = dict(steps)
    enrollments = [
        EnrollmentFact(j, send_step[j], status, step, wake_at, reason, exited_at)
        for j, status, step, wake_at, reason, exited_at in session.execute(
            select(
                Enrollment.journey_id,
                Enrollment.status,
                Enrollment.step,
                Enrollment.wake_at,
                Enrollment.exit_reason,
                Enrollment.exited_at,
            )
            .where(Enrollment.contact_id == contact_id, Enrollment.journey_id.in_(send_step))
            .order_by(Enrollment.entered_at.desc())
        )
    ]
    suppressions = {
        scope: (reason, created)
        for scope, reason, created in session.execute(
            select(Suppression.scope, Suppression.reason, Suppression.created_at).where(
                Suppression.email == email,
                or_(Suppression.expires_at.is_(None), Suppression.expires_at > now),
            )
        )
    }
    subscriptions = {
        t: (bool(on), at)
        for t, on, at in session.execute(
            select(Subscription.topic, Subscription.subscribed, Subscription.changed_at).where(
                Subscription.contact_id == contact_id
            )
        )
    }
    return Facts(template, topic, messages, suppressions, subscriptions, steps, enrollments)
