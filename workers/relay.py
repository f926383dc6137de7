"""Hand outbox rows to the broker: each topic that has a consumer maps to one actor."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from engine.runtime import outbox
from engine.runtime.topics import CONTACTS_CHANGED, ROUTE_EVENTS
from workers import actors
from workers.runtime import Runtime

log = logging.getLogger(__name__)

#: Topics with a consumer; rows of other topics wait until their consumer exists.
HANDLERS: dict[str, Callable[[dict[str, Any]], object]] = {
    ROUTE_EVENTS: lambda payload: actors.route_events.send(payload["event_ids"]),
    CONTACTS_CHANGED: lambda payload: actors.contacts_changed.send(payload["contact_ids"]),
}


def relay(runtime: Runtime, *, limit: int = 500) -> int:
    """Send up to ``limit`` pending rows; return how many the broker accepted.

    A failed send stops the round: the rows not marked are leased for a while and then
    picked up again, so nothing is lost and order within a topic is mostly kept.
    """
    with runtime.database.unit_of_work() as session:
        pending = outbox.claim(session, now=runtime.clock(), topics=HANDLERS.keys(), limit=limit)
    sent: list[int] = []
    try:
        for row in pending:
            HANDLERS[row.topic](row.payload)
            sent.append(row.id)
    except Exception:  # the broker is down: keep what was sent, retry the rest later
        log.exception("outbox relay stopped after %d of %d rows", len(sent), len(pending))
    if sent:
        with runtime.database.unit_of_work() as session:
            outbox.mark_dispatched(session, sent, now=runtime.clock())
    return len(sent)
