"""Process heartbeats: every api, worker, scheduler and ``up`` process keeps one row fresh.

A row says who runs where (``host:pid:role``) and how it is configured; the health page
lists the rows seen recently. Functions take a session and never commit; ``HeartbeatLoop``
is the small runner each process starts, owning its own short transactions.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, literal, select, update
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.contacts.service import dialect_insert
from engine.store.db import Database
from engine.store.models import ProcessHeartbeat
from engine.store.types import Json, merge_patch

log = logging.getLogger(__name__)

#: How often a process refreshes its row.
BEAT_INTERVAL = timedelta(seconds=10)
#: A process not seen for this long is not listed as live (three missed beats).
LIVE_WITHIN = timedelta(seconds=30)
#: Rows not seen for this long are deleted by the ``heartbeats.prune`` job.
PRUNE_AFTER = timedelta(hours=1)

ROLES = ("api", "worker", "scheduler", "up")


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """Who a process is: its role, host and pid; ``id`` is the heartbeat row's key."""

    role: str
    host: str
    pid: int

    @classmethod
    def current(cls, role: str) -> ProcessIdentity:
        """Describe this process in ``role``; raise ValueError for an unknown role."""
        if role not in ROLES:
            raise ValueError(f"unknown process role {role!r}; expected one of {', '.join(ROLES)}")
        return cls(role=role, host=socket.gethostname(), pid=os.getpid())

    @property
    def id(self) -> str:
        """``host:pid:role``, unique among running processes."""
        return f"{self.host}:{self.pid}:{self.role}"


@dataclass(frozen=True, slots=True)
class LiveProcess:
    """A process that beat recently, as the health page shows it."""

    id: str
    role: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    info: dict[str, Any]


def beat(
    session: Session,
    process: ProcessIdentity,
    *,
    started_at: datetime,
    now: datetime,
    info: dict[str, Any],
) -> None:
    """Insert or refresh the process's row; ``info`` is merged into what is stored."""
    stmt = dialect_insert(session, ProcessHeartbeat)
    # A merge, not a replace: a worker's actor may have added a probe result to the row.
    stmt = stmt.on_conflict_do_update(
        index_elements=[ProcessHeartbeat.id],
        set_={
            "seen_at": stmt.excluded.seen_at,
            "info": merge_patch(ProcessHeartbeat.info, stmt.excluded.info),
        },
    )
    session.execute(
        stmt,
        {
            "id": process.id,
            "role": process.role,
            "host": process.host,
            "pid": process.pid,
            "started_at": started_at,
            "seen_at": now,
            "info": info,
        },
    )


def forget(session: Session, process: ProcessIdentity) -> None:
    """Delete the process's row, as a clean shutdown does."""
    session.execute(delete(ProcessHeartbeat).where(ProcessHeartbeat.id == process.id))


def record_probe(
    session: Session, process: ProcessIdentity, *, sent_at: datetime, now: datetime
) -> bool:
    """Note on the process's row that it took a probe off the broker; False if it has no row.

    The probe's latency (ms) is how long the message waited in the queue.
    """
    probe = {
        "probe": {
            "sent_at": sent_at.isoformat(),
            "received_at": now.isoformat(),
            "latency_ms": round((now - sent_at).total_seconds() * 1000),
        }
    }
    result = session.execute(
        update(ProcessHeartbeat)
        .where(ProcessHeartbeat.id == process.id)
        .values(info=merge_patch(ProcessHeartbeat.info, literal(probe, Json)))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def live_processes(
    session: Session, *, now: datetime, within: timedelta = LIVE_WITHIN
) -> list[LiveProcess]:
    """List processes seen within ``within`` of ``now``, by role, host and pid."""
    rows = session.scalars(
        select(ProcessHeartbeat)
        .where(ProcessHeartbeat.seen_at >= now - within)
        .order_by(ProcessHeartbeat.role, ProcessHeartbeat.host, ProcessHeartbeat.pid)
    )
    return [
        LiveProcess(
            id=row.id,
            role=row.role,
            host=row.host,
            pid=row.pid,
            started_at=row.started_at,
            seen_at=row.seen_at,
            info=dict(row.info),
        )
        for row in rows
    ]


def prune(session: Session, *, now: datetime, older_than: timedelta = PRUNE_AFTER) -> int:
    """Delete rows not seen for ``older_than`` (processes that died without saying so)."""
    result = session.execute(
        delete(ProcessHeartbeat).where(ProcessHeartbeat.seen_at < now - older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)


class HeartbeatLoop:
    """Keep one process's row fresh from a daemon thread; delete it on ``stop``."""

    def __init__(
        self,
        database: Database,
        process: ProcessIdentity,
        *,
        info: Callable[[], dict[str, Any]],
        interval: timedelta = BEAT_INTERVAL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.process = process
        self._info = info
        self._interval = interval.total_seconds()
        self._clock = clock
        self._started_at = clock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Beat once now (so a broken database fails the start), then every interval."""
        self.beat()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{self.process.role}", daemon=True
        )
        self._thread.start()

    def beat(self) -> None:
        """Refresh the row once."""
        with self.database.unit_of_work() as session:
            beat(
                session,
                self.process,
                started_at=self._started_at,
                now=self._clock(),
                info=self._info(),
            )

    def stop(self) -> None:
        """Stop beating and delete the row; a database error here is logged, not raised."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 5)
            self._thread = None
        try:
            with self.database.unit_of_work() as session:
                forget(session, self.process)
        except Exception:  # shutdown must go on; prune removes the row within the hour
            log.warning("could not delete heartbeat row %s", self.process.id, exc_info=True)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.beat()
            except Exception:  # a database blip must not end the beating for good
                log.warning("heartbeat of %s failed", self.process.id, exc_info=True)
