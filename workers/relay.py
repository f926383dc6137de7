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


#: Topics whose rows the relay merges into one message (their actors take lists of ids and
#: of outbox rows), and the payload key holding the ids.
MERGED: dict[str, str] = {ROUTE_EVENTS: "event_ids", CONTACTS_CHANGED: "contact_ids"}
#: At most this many ids in one merged message, so one transaction stays short.
MERGE_LIMIT = 200


def relay(runtime: Runtime, *, limit: int = 500) -> int:
    """Send up to ``limit`` pending rows; return how many the broker accepted.

    Sending does not finish a row: its consumer does, so a message lost with a killed
    worker is sent again when the row's lease runs out. A failed send stops the round and
    hands the rows not sent back, so the first round after the broker returns sends them.
    Rows of a merged topic claimed together go out as one message: under load, events
    written by many requests are routed in one transaction rather than one each.
    """
    started = time.perf_counter()
    now = runtime.clock()
    with runtime.database.unit_of_work() as session:
        pending = outbox.claim(session, now=now, topics=HANDLERS.keys(), limit=limit)
    sent = 0
    messages = dispatches(pending)
    try:
        for rows, send in messages:
            send()
            sent += len(rows)
    except Exception:  # the broker is down
        log.exception("outbox relay stopped after %d of %d rows", sent, len(pending))
        with runtime.database.unit_of_work() as session:
            outbox.release(session, [row.id for row in pending[sent:]], now=now)
    if pending:
        log.info(
            "outbox relayed",
            extra={
                "rows": len(pending),
                "messages": len(messages),
                "sent": sent,
                "topics": sorted({row.topic for row in pending}),
                "outbox_id": pending[0].id if len(pending) == 1 else None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
    return sent


def dispatches(
    pending: list[outbox.Pending],
) -> list[tuple[list[outbox.Pending], Callable[[], object]]]:
    """The messages for ``pending``, in order: its rows, and the call that sends them.

    Rows are reordered so each merged message's rows are contiguous (a failed send then
    releases exactly the rows not yet sent); rows of other topics keep one message each.
    """
    merged: dict[str, list[list[outbox.Pending]]] = {}
    single: list[outbox.Pending] = []
    for row in pending:
        key = MERGED.get(row.topic)
        if key is None:
            single.append(row)
            continue
        chunks = merged.setdefault(row.topic, [[]])
        if (
            chunks[-1]
            and sum(len(r.payload[key]) for r in chunks[-1]) + len(row.payload[key]) > MERGE_LIMIT
        ):
            chunks.append([])
        chunks[-1].append(row)
    messages: list[tuple[list[outbox.Pending], Callable[[], object]]] = []
    for topic, chunks in merged.items():
        for rows in chunks:
            messages.append((rows, partial(_send_merged, topic, rows)))
    messages += [([row], partial(HANDLERS[row.topic], row)) for row in single]
    pending[:] = [row for rows, _ in messages for row in rows]
    return messages


def _send_merged(topic: str, rows: list[outbox.Pending]) -> None:
    if len(rows) == 1:
        HANDLERS[topic](rows[0])
        return
    ids = [i for row in rows for i in row.payload[MERGED[topic]]]
    outbox_ids = [row.id for row in rows]
    if topic == ROUTE_EVENTS:
        actors.route_events.send(ids, outbox_ids)
    else:
        actors.contacts_changed.send(sorted(set(ids)), outbox_ids)


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
