"""Every dramatiq actor; each one calls an engine service in one unit of work and nothing else."""

from __future__ import annotations

from datetime import datetime

from engine.clock import utcnow
from engine.operations import heartbeat as heartbeats
from workers.broker import actor
from workers.runtime import current

#: Queue of operational messages (probes); workers consume it with every other queue.
OPERATIONS_QUEUE = "operations"


@actor(queue_name=OPERATIONS_QUEUE, actor_name="heartbeats.probe", max_age=60_000, max_retries=0)
def probe(sent_at: str) -> None:
    """Record on this worker's heartbeat that it took a probe off the broker (and how late).

    A probe older than a minute is dropped: the next one says more.
    """
    runtime = current()
    with runtime.database.unit_of_work() as session:
        heartbeats.record_probe(
            session, runtime.process, sent_at=datetime.fromisoformat(sent_at), now=utcnow()
        )
