"""Request limits for the public collection endpoint: per process, or shared through Redis.

Limits protect identify and collection from floods. One process counts in memory; an
installation that serves ``/t/collect`` from many processes counts in Redis, so a client
cannot multiply its allowance by the number of processes. If Redis does not answer, the
process falls back to its own count rather than refusing (or admitting) everyone.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import redis.asyncio

log = logging.getLogger(__name__)


class Limiter(Protocol):
    """Counts requests per key in fixed windows."""

    async def allow(self, key: str, cost: int = 1) -> bool:
        """Count ``cost`` requests for ``key``; say whether they fit in its window."""
        ...


class LocalLimiter:
    """At most ``limit`` requests per key in each ``window`` seconds, in this process."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._counts: dict[str, tuple[float, int]] = {}

    async def allow(self, key: str, cost: int = 1) -> bool:
        return self.count(key, cost) <= self.limit

    def count(self, key: str, cost: int = 1) -> int:
        """Add ``cost`` to ``key``'s current window and return the window's total."""
        now = time.monotonic()
        if len(self._counts) > 50_000:  # forget finished windows now and then
            self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window}
        start, count = self._counts.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        count += cost
        self._counts[key] = (start, count)
        return count


class RedisLimiter:
    """The same limit shared by every process: one counter per key and window in Redis."""

    def __init__(self, url: str, name: str, limit: int, window: int = 60) -> None:
        self.name = name
        self.limit = limit
        self.window = window
        self._url = url
        self._client: redis.asyncio.Redis[bytes] | None = None
        self._fallback = LocalLimiter(limit, window)

    async def allow(self, key: str, cost: int = 1) -> bool:
        window = int(time.time() // self.window)
        counter = f"nurture:limit:{self.name}:{window}:{key}"
        try:
            if self._client is None:
                self._client = redis.asyncio.Redis.from_url(
                    self._url, socket_timeout=0.5, socket_connect_timeout=0.5
                )
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.incrby(counter, cost)
                pipe.expire(counter, self.window * 2)
                count, _ = await pipe.execute()
        except redis.RedisError as error:
            log.warning("rate limit counted in this process only: %s", error)
            return await self._fallback.allow(key, cost)
        return int(count) <= self.limit


def shared_limits_url(redis_url: str, *, embedded: bool) -> str | None:
    """The Redis that shares limits between processes: production's, none when embedded."""
    if redis_url.startswith(("redis://", "rediss://", "unix://")) and not embedded:
        return redis_url
    return None


def limiter_for(redis_url: str | None, name: str, limit: int, window: int = 60) -> Limiter:
    """A shared limiter when the installation has Redis, else one for this process."""
    if redis_url:
        return RedisLimiter(redis_url, name, limit, window)
    return LocalLimiter(limit, window)
