"""Where tracking endpoints leave hits for the ingest consumer: a Redis stream, or memory.

The endpoints answer as soon as a hit is in the buffer; the consumer writes hits in batches.
In production the buffer is a Redis stream read through a consumer group: a hit is
acknowledged (and deleted) only after the batch holding it is committed, so a consumer
that dies leaves its hits pending and the next consumer claims them (nothing accepted is
lost). Embedded mode has one process, and its buffer is an in-process queue drained when
``nurture up`` stops.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import redis
import redis.asyncio

from engine.clock import utcnow

#: The stream and the consumer group of tracking hits.
STREAM = "nurture:tracking:hits"
GROUP = "ingest"
#: Hits a stream entry holds, roughly, under load (one write per batch of requests).
ENTRY_HITS = 20
#: A pending hit whose consumer has been silent this long is taken over (milliseconds).
RECLAIM_IDLE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Taken:
    """A hit taken from the buffer, with the handle that acknowledges it."""

    handle: str
    hit: dict[str, Any]


class HitBuffer(Protocol):
    """A buffer of hits: endpoints push, one or more consumers take and acknowledge."""

    async def push(self, hit: dict[str, Any]) -> None:
        """Keep ``hit`` (a JSON-ready dict with ``id``, ``kind`` and ``at``) until consumed."""

    def take(self, limit: int, wait: float) -> list[Taken]:
        """Return up to ``limit`` hits, waiting up to ``wait`` seconds for the first."""

    def done(self, taken: Sequence[Taken]) -> None:
        """Acknowledge hits whose batch was committed."""

    def depth(self) -> int:
        """Return how many hits wait to be written (for health and metrics)."""

    def lag(self) -> float:
        """Return the age in seconds of the oldest hit not yet written (0 when none waits)."""


class MemoryBuffer:
    """The embedded mode's buffer: a thread-safe queue inside the one process."""

    def __init__(self) -> None:
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()

    async def push(self, hit: dict[str, Any]) -> None:
        self._queue.put_nowait(hit)

    def take(self, limit: int, wait: float) -> list[Taken]:
        try:
            first = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
        except queue.Empty:
            return []
        hits = [first]
        while len(hits) < limit:
            try:
                hits.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return [Taken(str(h["id"]), h) for h in hits]

    def done(self, taken: Sequence[Taken]) -> None:
        return None

    def depth(self) -> int:
        return self._queue.qsize()

    def lag(self) -> float:
        with self._queue.mutex:  # look at the oldest hit without taking it
            oldest = self._queue.queue[0]["at"] if self._queue.queue else None
        if oldest is None:
            return 0.0
        return max(0.0, (utcnow() - datetime.fromisoformat(oldest)).total_seconds())


class RedisBuffer:
    """The production buffer: one Redis stream, a consumer group, at-least-once delivery."""

    def __init__(
        self,
        url: str,
        *,
        consumer: str | None = None,
        stream: str = STREAM,
        reclaim_idle_ms: int = RECLAIM_IDLE_MS,
    ) -> None:
        self._url = url
        self.stream = stream
        self.reclaim_idle_ms = reclaim_idle_ms
        self._sync = redis.Redis.from_url(url)
        self._async: redis.asyncio.Redis[bytes] | None = None
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Future[None] | None = None
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._backlog = True  # first read this consumer's own pending hits (after a restart)

    async def push(self, hit: dict[str, Any]) -> None:
        """Add the hit to the next write and return once Redis has it.

        Requests that arrive while a write is on its way share the next one, as one stream
        entry: one command, one round trip and one JSON document for many hits, which is
        most of what keeps the endpoints cheap under load.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((hit, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_pending())
        await future

    async def _write_pending(self) -> None:
        if self._async is None:
            self._async = redis.asyncio.Redis.from_url(self._url)
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                hits = json.dumps([hit for hit, _ in batch], ensure_ascii=False)
                await self._async.xadd(self.stream, {"b": hits})
            except Exception as error:  # each waiting request sees the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    def take(self, limit: int, wait: float) -> list[Taken]:
        self._ensure_group()
        if self._backlog:
            taken = self._read("0", limit, None)
            if taken:
                return taken
            self._backlog = False
            claimed = self._sync.xautoclaim(
                self.stream,
                GROUP,
                self.consumer,
                self.reclaim_idle_ms,
                "0-0",
                count=max(1, limit // ENTRY_HITS),
            )
            taken = _decode(claimed[1])
            if taken:
                self._backlog = True  # read them again as our own pending hits next time
                return taken
        return self._read(">", limit, int(wait * 1000) or None)

    def done(self, taken: Sequence[Taken]) -> None:
        if not taken:
            return
        handles = sorted({t.handle for t in taken})
        with self._sync.pipeline(transaction=False) as pipe:
            pipe.xack(self.stream, GROUP, *handles)
            pipe.xdel(self.stream, *handles)
            pipe.execute()

    def depth(self) -> int:
        """Stream entries waiting (each one write of one or more hits)."""
        return int(self._sync.xlen(self.stream))

    def lag(self) -> float:
        """How long the oldest entry has waited, by Redis's clock (entry ids are its times)."""
        with self._sync.pipeline(transaction=False) as pipe:
            pipe.xrange(self.stream, count=1)
            pipe.time()
            oldest, (seconds, micros) = pipe.execute()
        if not oldest:
            return 0.0
        written_ms = int(_text(oldest[0][0]).split("-", 1)[0])
        return max(0.0, float(seconds) + float(micros) / 1e6 - written_ms / 1000)

    def reclaim_soon(self) -> None:
        """Look for pending hits of silent consumers on the next take (call now and then)."""
        self._backlog = True

    async def aclose(self) -> None:
        """Close the endpoints' connection (the app's shutdown)."""
        if self._async is not None:
            await self._async.aclose()  # type: ignore[attr-defined]  # redis >= 5
            self._async = None

    def close(self) -> None:
        """Close the consumer's connection."""
        self._sync.close()

    def _read(self, start: str, limit: int, block_ms: int | None) -> list[Taken]:
        # An entry holds the hits of one write (a few to a few dozen): read about ``limit``.
        count = max(1, limit // ENTRY_HITS)
        found = self._sync.xreadgroup(
            GROUP, self.consumer, {self.stream: start}, count=count, block=block_ms
        )
        if not found:
            return []
        _, entries = found[0]
        return _decode(entries)

    def _ensure_group(self) -> None:
        try:
            self._sync.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise


def _decode(entries: Any) -> list[Taken]:
    """The hits of stream entries; the hits of one entry share its handle."""
    taken = []
    for handle, fields in entries:
        if not fields:  # deleted while pending
            continue
        raw = fields.get(b"b") or fields.get("b")
        if raw is None:
            continue
        entry = _text(handle)
        taken += [Taken(entry, hit) for hit in json.loads(raw)]
    return taken


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def buffer_for(redis_url: str, *, embedded: bool) -> HitBuffer:
    """The buffer this installation uses: Redis when it has one, else memory (embedded)."""
    if redis_url.startswith(("redis://", "rediss://", "unix://")) and not embedded:
        return RedisBuffer(redis_url)
    return MemoryBuffer()
