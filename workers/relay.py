"""Hand outbox rows to the broker: each topic that has a consumer maps to one actor."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from engine.broadcasts.walk import SEND_BROADCAST_EMAIL
from engine.runtime import outbox
from engine.runtime.topics import (
    CALL_WEBHOOK,
    CONTACTS_CHANGED,
    HANDOFF_CREATED,
    NOTIFY,
    ROUTE_EVENTS,
    SEND_EMAIL,
)
from workers import actors, delivery, email
from workers.runtime import Runtime

log = logging.getLogger(__name__)

#: Topics with a consumer, which marks the row done; other topics wait for their consumer.
HANDLERS: dict[str, Callable[[outbox.Pending], object]] = {
    ROUTE_EVENTS: lambda row: actors.route_events.send(row.payload["event_ids"], row.id),
    SEND_EMAIL: lambda row: email.send_email.send([row.payload["message_id"]], row.id),
    CONTACTS_CHANGED: lambda row: actors.contacts_changed.send(row.payload["contact_ids"], row.id),
    CALL_WEBHOOK: lambda row: delivery.call_webhook.send(row.payload, row.id),
    NOTIFY: lambda row: delivery.notify.send(row.payload, row.id),
    HANDOFF_CREATED: lambda row: delivery.handoff_created.send(row.payload["handoff_id"], row.id),
    SEND_BROADCAST_EMAIL: lambda row: email.send_email.send(row.payload["message_ids"], row.id),
}


def relay(runtime: Runtime, *, limit: int = 500) -> int:
    """Send up to ``limit`` pending rows; return how many the broker accepted.

    Sending does not finish a row: its consumer does, so a message lost with a killed
    worker is sent again when the row's lease runs out. A failed send stops the round and
    hands the rows not sent back, so the first round after the broker returns sends them.
    """
    started = time.perf_counter()
    now = runtime.clock()
    with runtime.database.unit_of_work() as session:
        pending = outbox.claim(session, now=now, topics=HANDLERS.keys(), limit=limit)
    sent = 0
    try:
        for row in pending:
            HANDLERS[row.topic](row)
            sent += 1
    except Exception:  # the broker is down
        log.exception("outbox relay stopped after %d of %d rows", sent, len(pending))
        with runtime.database.unit_of_work() as session:
            outbox.release(session, [row.id for row in pending[sent:]], now=now)
    if pending:
        log.info(
            "outbox relayed",
            extra={
                "rows": len(pending),
                "sent": sent,
                "topics": sorted({row.topic for row in pending}),
                "outbox_id": pending[0].id if len(pending) == 1 else None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
    return sent


class Coalesced:
    """A call for many callers at once: a call made while one runs asks it to go again.

    Every API request that wrote to the outbox asks for a relay after its response; under
    load those requests arrive together, and one claim of all their rows costs far less
    than one transaction each. No row waits: a call that finds the action running makes it
    run once more when it finishes, which claims what that call's request wrote.
    """

    def __init__(self, action: Callable[[], object]) -> None:
        self.action = action
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def __call__(self) -> None:
        with self._lock:
            if self._running:
                self._again = True
                return
            self._running = True
        try:
            while True:
                self.action()
                with self._lock:
                    if not self._again:
                        self._running = False
                        return
                    self._again = False
        except BaseException:
            with self._lock:
                self._running = False
            raise


def coalesced_relay(runtime: Runtime) -> Coalesced:
    """The relay API processes run after responses: concurrent requests share rounds."""
    return Coalesced(partial(relay, runtime))
