"""Scheduler leadership: of many scheduler processes, one acts and the rest stand by.

Production holds a Redis lease (``SET key owner NX PX ttl``, renewed by its owner) or a
PostgreSQL session advisory lock on a dedicated connection; embedded SQLite mode has one
process, which leads. A leader that cannot renew in time stops acting before its lease
can pass to another process, so two leaders never act at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from typing import Protocol

import redis
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from engine.settings import Settings
from engine.store.db import Database

log = logging.getLogger(__name__)

#: How long a lease lives unless renewed (s); a standby takes over within about this.
LEASE_TTL = 10.0
#: A leader counts itself leader only for this share of the TTL after a renewal, so it
#: stops acting before the lease can expire in Redis and pass to someone else.
_SAFETY = 0.8

# Renew only what we own: compare and extend in one step.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Leadership(Protocol):
    """Who may act: call ``acquire_or_renew`` every ttl/3; act only while ``is_leader``."""

    @property
    def is_leader(self) -> bool:
        """True while this process holds leadership, as of now."""
        ...

    def acquire_or_renew(self) -> bool:
        """Take leadership if free, or extend it if held; return whether it is held."""
        ...

    def release(self) -> None:
        """Give leadership up at once, so a standby takes over without waiting."""
        ...


class SingleProcessLeadership:
    """Embedded mode: the only scheduler is the leader."""

    is_leader = True

    def acquire_or_renew(self) -> bool:
        """Always held."""
        return True

    def release(self) -> None:
        """Nothing to give up."""


class RedisLease:
    """A lease in Redis: ``SET key owner NX PX ttl`` to take it, compare-and-extend to keep it."""

    def __init__(
        self, client: redis.Redis[bytes], *, key: str, owner: str, ttl: float = LEASE_TTL
    ) -> None:
        self.client = client
        self.key = key
        self.owner = owner
        self.ttl = ttl
        self._valid_until = 0.0
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @property
    def is_leader(self) -> bool:
        """True until the safe share of the TTL since the last successful renewal is over."""
        return time.monotonic() < self._valid_until

    def acquire_or_renew(self) -> bool:
        """Take or extend the lease; a Redis error counts as not holding it."""
        started = time.monotonic()
        ttl_ms = max(1, int(self.ttl * 1000))
        try:
            held = bool(self.client.set(self.key, self.owner, nx=True, px=ttl_ms)) or bool(
                self._renew(keys=[self.key], args=[self.owner, ttl_ms])
            )
        except redis.RedisError:
            log.warning("scheduler lease %s: Redis unreachable", self.key, exc_info=True)
            held = False
        self._valid_until = started + self.ttl * _SAFETY if held else 0.0
        return held

    def release(self) -> None:
        """Delete the lease if this process still owns it."""
        self._valid_until = 0.0
        try:
            self._release(keys=[self.key], args=[self.owner])
        except redis.RedisError:
            log.warning("scheduler lease %s: could not release", self.key, exc_info=True)


class PostgresAdvisoryLock:
    """A session-level ``pg_try_advisory_lock`` held on a connection of its own.

    The server frees the lock when the connection ends, so a dead leader loses it at once.
    The connection is not pooled: closing it must really end the session.
    """

    def __init__(
        self, url: str, *, name: str = "nurture.scheduler", ttl: float = LEASE_TTL
    ) -> None:
        self.engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self.lock_id = lock_id(name)
        self.ttl = ttl
        self._connection: Connection | None = None
        self._valid_until = 0.0
        self._guard = threading.Lock()

    @property
    def is_leader(self) -> bool:
        """True while the lock is held and the connection answered within the safe TTL share."""
        return time.monotonic() < self._valid_until

    def acquire_or_renew(self) -> bool:
        """Try the lock, or check that the connection holding it is still alive."""
        started = time.monotonic()
        with self._guard:
            try:
                if self._connection is not None and self._valid_until:
                    self._connection.execute(text("SELECT 1"))
                    held = True
                else:
                    if self._connection is None:
                        self._connection = self.engine.connect()
                    held = bool(
                        self._connection.scalar(
                            text("SELECT pg_try_advisory_lock(:id)"), {"id": self.lock_id}
                        )
                    )
            except SQLAlchemyError:
                log.warning("scheduler lock: PostgreSQL unreachable", exc_info=True)
                self._close()
                held = False
            self._valid_until = started + self.ttl * _SAFETY if held else 0.0
            return held

    def release(self) -> None:
        """Unlock and close the connection."""
        with self._guard:
            self._valid_until = 0.0
            if self._connection is not None:
                try:
                    self._connection.execute(
                        text("SELECT pg_advisory_unlock(:id)"), {"id": self.lock_id}
                    )
                except SQLAlchemyError:
                    log.warning("scheduler lock: could not unlock", exc_info=True)
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None
        self._valid_until = 0.0


def lock_id(name: str) -> int:
    """Map a lock name to a signed 64-bit advisory lock id, the same in every process."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def leadership_for(
    settings: Settings,
    database: Database,
    *,
    owner: str,
    ttl: float = LEASE_TTL,
    key: str = "nurture:scheduler:leader",
) -> Leadership:
    """Pick the leadership the settings allow: Redis, else PostgreSQL, else this process alone."""
    if settings.resolved_redis_url:
        client = redis.Redis.from_url(settings.resolved_redis_url)
        return RedisLease(client, key=key, owner=owner, ttl=ttl)
    if database.dialect == "postgresql":
        return PostgresAdvisoryLock(database.url, name=key, ttl=ttl)
    return SingleProcessLeadership()
