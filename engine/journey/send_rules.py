"""The rules applied to a plan's sends with knowledge beyond one enrollment: consent and caps.

The planner cannot count sends across journeys, so it attaches the cap to each send; this
function decides with the contact's recent sends. The runtime and the simulator both call
it, so a simulation predicts what production does.

- A send with a ``topic`` goes only to a contact subscribed to it (``no_consent`` otherwise).
- ``frequency_cap: {max, per, scope, on_limit}`` counts the sends in ``scope`` over the last
  ``per``: ``global`` (every journey), ``journey`` (this one) or ``tag:<topic>`` (sends of
  that topic). Over ``max``, ``skip`` drops the send and the journey goes on; ``defer`` cuts
  the plan before it and holds the enrollment until the oldest counted send ages out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.journey.contact_view import ContactView

if TYPE_CHECKING:
    from datetime import datetime

    from engine.journey.planner import Plan


@dataclass(frozen=True, slots=True)
class RecentSend:
    """A send to the contact that counts towards caps: when, from which journey, its topic."""

    at: datetime
    journey: str | None
    topic: str | None


def in_scope(send: RecentSend, scope: str, journey: str) -> bool:
    """Say whether ``send`` counts towards a cap of ``scope`` set by ``journey``."""
    if scope == "global":
        return True
    if scope == "journey":
        return send.journey == journey
    return scope.startswith("tag:") and send.topic == scope.removeprefix("tag:")


def apply_send_rules(
    plan: Plan, contact: ContactView, recent: Sequence[RecentSend], journey: str
) -> tuple[Plan, dict[str, str]]:
    """Return the plan (cut when a cap defers a send) and the sends dropped, by key, with why.

    ``recent`` is the contact's sends so far; the plan's own sends count as they go.
    """
    vetoed: dict[str, str] = {}
    counted = list(recent)
    for send in plan.sends:
        if send.topic is not None and send.topic not in contact.subscriptions:
            vetoed[send.idempotency_key] = "no_consent"
            continue
        cap = send.frequency_cap
        if cap is not None:
            window = sorted(
                s.at
                for s in counted
                if s.at > plan.at - cap.per and in_scope(s, cap.scope, journey)
            )
            if len(window) >= cap.max:
                if cap.on_limit == "skip":
                    vetoed[send.idempotency_key] = "frequency_cap"
                    continue
                return plan.defer(send, window[len(window) - cap.max] + cap.per), vetoed
        counted.append(RecentSend(plan.at, journey, send.topic))
    return plan, vetoed
