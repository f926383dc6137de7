"""Actors that carry work out of the installation: webhooks, notifications, sales handoffs.

Each consumer writes its rows and marks its outbox row done in one unit of work, then makes
the calls and sends the mail after the commit (no transaction stays open across the network).
A call interrupted by a crash is found by the ``webhooks.retry`` sweep once its lease ends.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine.handoffs.service import process_handoff
from engine.notifications import service as notifications
from engine.runtime import outbox
from engine.webhooks import service as webhooks
from workers.broker import actor
from workers.runtime import Runtime, current

#: Queue of outgoing calls and mail, apart from journey work so slow receivers cannot hold it.
DELIVERIES_QUEUE = "deliveries"
#: How often the scheduler looks for webhooks due for another attempt.
RETRY_INTERVAL = timedelta(seconds=5)
#: Batches of ``webhooks.service.RETRY_BATCH`` per sweep, so one sweep cannot run past the next.
RETRY_BATCHES = 10
#: Deliveries per actor message: the calls of one message are made one after another.
DELIVERIES_PER_MESSAGE = 10


class NotificationsNotSent(Exception):
    """Raised so the broker retries a notification whose email the SMTP server did not take."""


@actor(queue_name=DELIVERIES_QUEUE, actor_name="webhooks.call", max_retries=20)
def call_webhook(payload: dict[str, Any], outbox_id: int | None = None) -> None:
    """Record a journey step's webhook delivery and make its first attempt."""
    runtime = current()
    now = runtime.clock()
    with runtime.database.unit_of_work() as session:
        delivery_id = webhooks.record_journey_call(session, payload, now=now)
        timeout = timedelta(seconds=float(payload.get("timeout") or 10))
        leased = webhooks.claim(session, now=now, ids=[delivery_id], timeout=timeout)
        outbox.mark_done(session, outbox_id, now=now)
    webhooks.deliver(runtime.database, leased, settings=runtime.settings, clock=runtime.clock)


@actor(queue_name=DELIVERIES_QUEUE, actor_name="webhooks.deliver", max_retries=0)
def deliver_webhooks(claims: list[list[int]]) -> None:
    """Make the attempts the retry sweep leased (``[id, attempt]`` pairs); stale ones are skipped."""
    runtime = current()
    with runtime.database.unit_of_work() as session:
        leased = webhooks.leased(session, [(i, n) for i, n in claims])
    webhooks.deliver(runtime.database, leased, settings=runtime.settings, clock=runtime.clock)


@actor(queue_name=DELIVERIES_QUEUE, actor_name="notifications.notify", max_retries=20)
def notify(payload: dict[str, Any], outbox_id: int | None = None) -> None:
    """Write a journey ``notify`` step's notifications, then send them."""
    runtime = current()
    now = runtime.clock()
    with runtime.database.unit_of_work() as session:
        outgoing = notifications.record_notify(session, payload, now=now, settings=runtime.settings)
        outbox.mark_done(session, outbox_id, now=now)
    _send(runtime, outgoing)


@actor(queue_name=DELIVERIES_QUEUE, actor_name="handoffs.created", max_retries=20)
def handoff_created(handoff_id: int, outbox_id: int | None = None) -> None:
    """Assign a new handoff, notify its owner and call the CRM."""
    runtime = current()
    now = runtime.clock()
    with runtime.database.unit_of_work() as session:
        outgoing = process_handoff(session, handoff_id, now=now, settings=runtime.settings)
        outbox.mark_done(session, outbox_id, now=now)
    _send(runtime, outgoing)


def retry_due(runtime: Runtime) -> int:
    """Lease the webhooks due for another attempt and hand them to workers; return how many."""
    total = 0
    for _ in range(RETRY_BATCHES):
        with runtime.database.unit_of_work() as session:
            leased = webhooks.claim(session, now=runtime.clock())
        pairs = [[a.id, a.number] for a in leased]
        for start in range(0, len(pairs), DELIVERIES_PER_MESSAGE):
            deliver_webhooks.send(pairs[start : start + DELIVERIES_PER_MESSAGE])
        total += len(pairs)
        if len(pairs) < webhooks.RETRY_BATCH:
            break
    return total


def _send(runtime: Runtime, outgoing: notifications.Outgoing) -> None:
    failed = notifications.send(
        runtime.database,
        outgoing,
        settings=runtime.settings,
        clock=runtime.clock,
        capture_port=runtime.capture_port,
    )
    if failed:
        raise NotificationsNotSent(f"{failed} notification email(s) not sent; retrying")
