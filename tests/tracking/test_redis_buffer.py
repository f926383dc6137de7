"""The production buffer: hits survive a consumer that dies before acknowledging them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from engine.clock import utcnow
from engine.tracking.buffer import ENTRY_HITS, MemoryBuffer, RedisBuffer

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def stream() -> Iterator[str]:
    name = f"nurture:test:hits:{uuid.uuid4().hex}"
    yield name
    redis.Redis.from_url(REDIS_URL).delete(name)


def hit(n: int) -> dict[str, object]:
    return {"id": f"h{n}", "kind": "open", "uid": f"u{n}", "at": "2026-12-03T00:00:00+00:00"}


@pytest.mark.redis
def test_hits_taken_by_a_consumer_that_dies_are_claimed_by_another(stream: str):
    pushing = RedisBuffer(REDIS_URL, stream=stream)

    async def push() -> None:
        for n in range(5):
            await pushing.push(hit(n))
        await pushing.aclose()

    asyncio.run(push())
    dying = RedisBuffer(REDIS_URL, consumer="dying", stream=stream, reclaim_idle_ms=0)
    taken = dying.take(3 * ENTRY_HITS, 0.1)  # each push above was its own write: 3 entries
    assert [t.hit["id"] for t in taken] == ["h0", "h1", "h2"]
    # ... and the process is killed here: no acknowledgement.
    survivor = RedisBuffer(REDIS_URL, consumer="survivor", stream=stream, reclaim_idle_ms=0)
    seen: list[str] = []
    for _ in range(6):
        batch = survivor.take(10, 0.1)
        seen += [t.hit["id"] for t in batch]
        survivor.done(batch)
    assert sorted(seen) == ["h0", "h1", "h2", "h3", "h4"]
    assert survivor.depth() == 0


@pytest.mark.redis
def test_a_restarted_consumer_first_reads_its_own_pending_hits(stream: str):
    pushing = RedisBuffer(REDIS_URL, stream=stream)
    asyncio.run(pushing.push(hit(1)))
    first = RedisBuffer(REDIS_URL, consumer="worker-a", stream=stream)
    assert [t.hit["id"] for t in first.take(10, 0.1)] == ["h1"]
    again = RedisBuffer(REDIS_URL, consumer="worker-a", stream=stream)  # same name, restarted
    taken = again.take(10, 0.1)
    assert [t.hit["id"] for t in taken] == ["h1"]
    again.done(taken)
    assert again.take(10, 0.1) == [] and again.depth() == 0


@pytest.mark.redis
def test_hits_pushed_together_share_one_entry_and_are_acknowledged_together(stream: str):
    pushing = RedisBuffer(REDIS_URL, stream=stream)

    async def burst() -> None:
        await asyncio.gather(*(pushing.push(hit(n)) for n in range(30)))
        await pushing.aclose()

    asyncio.run(burst())
    assert pushing.depth() < 30  # concurrent requests were written together
    consumer = RedisBuffer(REDIS_URL, consumer="worker-b", stream=stream)
    taken = consumer.take(1_000, 0.1)
    assert sorted(t.hit["id"] for t in taken) == sorted(f"h{n}" for n in range(30))
    consumer.done(taken)
    assert consumer.depth() == 0


@pytest.mark.redis
def test_lag_is_the_age_of_the_oldest_unwritten_hit(stream: str):
    buffer = RedisBuffer(REDIS_URL, consumer="ingest", stream=stream)
    assert buffer.lag() == 0.0  # nothing waits

    async def push() -> None:
        await buffer.push(hit(1))
        await buffer.aclose()

    asyncio.run(push())
    time.sleep(0.3)
    waited = buffer.lag()
    assert 0.25 <= waited < 5
    buffer.done(buffer.take(10, 0.1))
    assert buffer.lag() == 0.0  # written and acknowledged: no lag left


def test_the_memory_buffer_reports_the_oldest_hits_age():
    buffer = MemoryBuffer()
    assert buffer.lag() == 0.0
    old = {**hit(1), "at": (utcnow() - timedelta(seconds=42)).isoformat()}
    asyncio.run(buffer.push(old))
    asyncio.run(buffer.push({**hit(2), "at": utcnow().isoformat()}))
    assert 42 <= buffer.lag() < 50
    buffer.take(1, 0)
    assert buffer.lag() < 5
