"""Hand outbox rows to the broker: each topic that has a consumer maps to one actor."""

from __future__ import annotations

import logging
from collections.abc import Callable

from engine.runtime import outbox
from engine.runtime.topics import CONTACTS_CHANGED, ROUTE_EVENTS
from workers import actors
from workers.runtime import Runtime

log = logging.getLogger(__name__)

#: Topics with a consumer, which marks the row done; other topics wait for their consumer.
HANDLERS: dict[str, Callable[[outbox.Pending], object]] = {
    ROUTE_EVENTS: lambda row: actors.route_events.send(row.payload["event_ids"], row.id),
    CONTACTS_CHANGED: lambda row: actors.contacts_changed.send(row.payload["contact_ids"], row.id),
}


def relay(runtime: Runtime, *, limit: int = 500) -> int:
    """Send up to ``limit`` pending rows; return how many the broker accepted.

    Sending does not finish a row: its consumer does, so a message lost with a killed
    worker is sent again when the row's lease runs out. A failed send stops the round; the
    rows not sent wait out their lease too.
    """
    with runtime.database.unit_of_work() as session:
        pending = outbox.claim(session, now=runtime.clock(), topics=HANDLERS.keys(), limit=limit)
    sent = 0
    try:
        for row in pending:
            HANDLERS[row.topic](row)
            sent += 1
    except Exception:  # the broker is down: the leases bring the rest back later
        log.exception("outbox relay stopped after %d of %d rows", sent, len(pending))
    return sent
