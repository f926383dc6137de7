"""The tracking ingest consumer: a thread that drains the hit buffer into the database.

It runs in every ``nurture worker`` process (the Redis consumer group shares the stream
among them) and in ``nurture up``. Each batch is one unit of work; the hits are
acknowledged only after it commits, and the outbox rows it wrote (contacts whose journeys
and segments should re-check) are relayed right away so a click wakes a journey in
seconds. Stopping finishes the batch in hand and, in embedded mode, drains what is left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from engine.clock import utcnow
from engine.store.db import Database
from engine.tracking.buffer import HitBuffer, RedisBuffer, Taken
from engine.tracking.ingest import MAIL_KINDS, IngestReport, store_mail_hits
from engine.tracking.web import WEB_KINDS, WebReport, store_web_hits

log = logging.getLogger(__name__)

#: Hits per unit of work.
BATCH = 1_000
#: How long one wait for hits lasts, so a stop request is seen within it (seconds).
WAIT = 0.5
#: How often a Redis consumer looks for hits a dead consumer left pending (seconds).
RECLAIM_EVERY = 30.0


class TrackingConsumer:
    """Drain ``buffer`` into ``database`` on a thread until stopped."""

    def __init__(
        self,
        database: Database,
        buffer: HitBuffer,
        *,
        after_commit: Callable[[], object] | None = None,
        batch: int = BATCH,
    ) -> None:
        self.database = database
        self.buffer = buffer
        self.after_commit = after_commit
        self.batch = batch
        self.written = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start consuming on a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="tracking-ingest", daemon=True)
        self._thread.start()

    def stop(self, *, drain: bool = True) -> None:
        """Finish the batch in hand; with ``drain``, write whatever is still buffered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if drain:
            while self.step(wait=0):
                pass

    def step(self, wait: float = WAIT) -> int:
        """Write one batch; return how many hits it held (0: the buffer was empty)."""
        taken = self.buffer.take(self.batch, wait)
        if not taken:
            return 0
        report, web = self.write(taken)
        self.buffer.done(taken)
        self.written += report.stored + web.events
        if (report.contacts or web.events or web.merged) and self.after_commit is not None:
            self.after_commit()
        return len(taken)

    def write(self, taken: list[Taken]) -> tuple[IngestReport, WebReport]:
        """Store one batch of hits in one unit of work."""
        hits = [t.hit for t in taken]
        mail = [h for h in hits if h.get("kind") in MAIL_KINDS]
        site = [h for h in hits if h.get("kind") in WEB_KINDS]
        if len(mail) + len(site) < len(hits):
            log.warning(
                "dropped %d tracking hits of unknown kinds", len(hits) - len(mail) - len(site)
            )
        now = utcnow()
        with self.database.unit_of_work() as session:
            report = store_mail_hits(session, mail, now=now)
            web = store_web_hits(session, site, now=now)
        return report, web

    def _run(self) -> None:
        reclaimed = time.monotonic()
        while not self._stop.is_set():
            try:
                self.step()
                if isinstance(self.buffer, RedisBuffer) and (
                    time.monotonic() - reclaimed > RECLAIM_EVERY
                ):
                    self.buffer.reclaim_soon()
                    reclaimed = time.monotonic()
            except Exception:  # a database or Redis outage: the hits stay buffered
                log.exception("tracking ingest failed; retrying")
                self._stop.wait(2.0)
