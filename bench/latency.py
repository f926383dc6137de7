"""Trigger-to-action latency under a steady event load, on the production stack.

PostgreSQL, a Redis broker (an empty Redis database of its own), ``nurture api``, one
``nurture worker`` and one ``nurture scheduler``, each its own process started as an operator
would. A deployed journey's trigger is ``signed_up`` and its first step an ``update_contact``.
The client posts ``signed_up`` events to ``POST /api/events`` at a steady rate, each for a
different known contact, with ``occurred_at`` the moment it is sent: 100 events/s for 30 s
in requests of 10 by default, as a site's collector flushes them every 100 ms
(``NURTURE_BENCH_EVENT_RATE``, ``NURTURE_BENCH_SECONDS`` and ``NURTURE_BENCH_EVENT_BATCH``
change them; a batch of 1 is a browser posting each event itself).

An observer polls the database every 10 ms for the contacts whose event is in flight and
notes when each one's new attribute became visible, that is, committed. The latency of an
event is that moment minus its ``occurred_at``: HTTP, ingestion, the outbox hand-off, the
broker, routing, enrolling, stepping and the commit, plus at most one polling interval. The figures are percentiles against the goal (p99 under 2 s): ratio = p / 2 s,
lower is better. The achieved event rate is reported against the rate asked for.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.runner import Context, Figure, console, median
from engine.auth.apikeys import create_api_key
from engine.clock import utcnow
from engine.deploy.service import apply_deploy, plan_deploy
from engine.store.db import Database

RATE = 100.0
SECONDS = 30.0
BATCH = 10
GOAL_MS = 2_000.0
POLL_SECONDS = 0.01
WARM_UP = 20
SECRET = "bench-secret-" + "x" * 40
REDIS = "redis://127.0.0.1:6379"
JOURNEY = """\
dsl: journey/v1
id: bench-latency
name: Latency benchmark
version: 1
triggers: [{event: signed_up}]
start: welcome
steps:
  welcome: {type: update_contact, set: {welcomed: true}, next: done}
  done: {type: exit, reason: welcomed}
"""


@dataclass(slots=True)
class Observed:
    """Contacts whose event was sent, and when each one's update became visible (epoch s)."""

    pending: set[int] = field(default_factory=set)
    at: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self, contact_id: int) -> None:
        """Start watching for this contact's update: its event is about to be posted."""
        with self.lock:
            self.pending.add(contact_id)


def free_port() -> int:
    """Return a port nothing listens on (127.0.0.1) for the API."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def empty_redis_database() -> str:
    """An empty Redis database (15 downwards), so no other process shares its broker keys."""
    base = os.environ.get("NURTURE_BENCH_REDIS_URL", REDIS).rstrip("/")
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{number}")
        try:
            if client.dbsize() == 0:
                return f"{base}/{number}"
        finally:
            client.close()
    raise RuntimeError("no empty Redis database to use as the benchmark's broker")


def forget_broker(url: str) -> None:
    """Delete the broker's keys (``nurture`` prefix) from the benchmark's Redis database."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="nurture*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def seed(database: Database, contacts: int) -> str:
    """Deploy the journey, add contacts 1..``contacts``, and return an ingest API key."""
    now = utcnow()
    with database.unit_of_work() as session:
        apply_deploy(
            session,
            plan_deploy(session, [("bench-latency.yaml", JOURNEY)]),
            now=now,
            published_by="bench",
        )
        session.execute(
            text(
                "INSERT INTO contacts (id, email, attributes, lifecycle_stage, score, created_at, "
                "updated_at) SELECT g, 'l' || g || '@example.jp', '{}', 'lead', 0, now(), now() "
                "FROM generate_series(1, :n) AS g"
            ),
            {"n": contacts},
        )
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('contacts', 'id'), :n)"), {"n": contacts}
        )
        return create_api_key(session, name="bench", scopes=["ingest"], now=now)


def start(role: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start one ``nurture`` process, its output kept in ``log``."""
    command = str(Path(sys.executable).with_name("nurture"))
    with log.open("wb") as output:
        return subprocess.Popen([command, *role], env=env, stdout=output, stderr=output)


def wait_for_api(port: int) -> None:
    """Wait until the API answers its health check; raise RuntimeError after 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not answer within 60 s")


def observe(engine: Engine, observed: Observed, stop: threading.Event) -> None:
    """Poll the contacts whose event is in flight; note when each one's update is visible."""
    query = text(
        "SELECT id FROM contacts WHERE id = ANY(:ids) AND attributes ->> 'welcomed' IS NOT NULL"
    )
    with Session(engine) as session:
        while not stop.is_set():
            with observed.lock:
                waiting = list(observed.pending)
            found = session.scalars(query, {"ids": waiting}).all() if waiting else []
            session.rollback()  # a fresh snapshot for the next poll
            seen = time.time()
            with observed.lock:
                for contact_id in found:
                    observed.at[contact_id] = seen
                    observed.pending.discard(contact_id)
            time.sleep(POLL_SECONDS)


async def post(
    client: httpx.AsyncClient, key: str, contacts: Sequence[int], observed: Observed
) -> list[tuple[int, float]]:
    """Post these contacts' ``signed_up`` events in one request; return when each was sent."""
    for contact_id in contacts:
        observed.sent(contact_id)
    sent = time.time()
    events = [
        {
            "type": "signed_up",
            "email": f"l{contact_id}@example.jp",
            "occurred_at": datetime.fromtimestamp(sent, UTC).isoformat(),
            "idempotency_key": f"signed-up-{contact_id}",
        }
        for contact_id in contacts
    ]
    body = events[0] if len(events) == 1 else events
    for attempt in range(3):
        try:
            response = await client.post("/api/events", json=body, headers={"Authorization": key})
            break
        except httpx.TransportError:  # a kept-alive connection the server just closed
            if attempt == 2:
                raise
    response.raise_for_status()
    return [(contact_id, sent) for contact_id in contacts]


async def load(
    port: int, api_key: str, contacts: range, rate: float, batch: int, observed: Observed
) -> tuple[dict[int, float], float]:
    """Post one event per contact, ``batch`` per request, at ``rate`` events/s.

    Returns each contact's send time and the span (s) from the first send to the last answer.
    """
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60
    ) as client:
        started = time.monotonic()
        tasks = []
        for n in range(0, len(contacts), batch):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            group = contacts[n : n + batch]
            tasks.append(asyncio.create_task(post(client, f"Bearer {api_key}", group, observed)))
        sent = dict(pair for pairs in await asyncio.gather(*tasks) for pair in pairs)
        span = time.monotonic() - started
    return sent, span


def wait_for(observed: Observed, contacts: Iterable[int], timeout: float) -> None:
    """Wait until the effect of every one of these contacts' events is visible, or ``timeout``."""
    wanted = set(contacts)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with observed.lock:
            if wanted <= observed.at.keys():
                return
        time.sleep(0.1)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def run(context: Context) -> list[Figure]:
    """Start the stack, warm it up, load it, and return the percentiles and the rate achieved."""
    database = context.database()
    if database.dialect != "postgresql":
        console.print("  latency runs the production stack: give --database-url (PostgreSQL)")
        database.dispose()
        return []
    rate = float(os.environ.get("NURTURE_BENCH_EVENT_RATE") or RATE)
    seconds = float(os.environ.get("NURTURE_BENCH_SECONDS") or SECONDS)
    batch = int(os.environ.get("NURTURE_BENCH_EVENT_BATCH") or BATCH)
    count = int(rate * seconds)
    api_key = seed(database, WARM_UP + count * context.repeat)
    broker = empty_redis_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(
        NURTURE_DATABASE_URL=context.database_url,
        NURTURE_BROKER_URL=broker,
        NURTURE_SECRET_KEY=SECRET,
        NURTURE_VAR_DIR=str(context.folder / "var"),
        NURTURE_LOG_LEVEL="WARNING",
    )
    port = free_port()
    logs = context.folder
    processes = [
        start(["api", "--host", "127.0.0.1", "--port", str(port)], env, logs / "api.log"),
        start(["worker", "--processes", "1"], env, logs / "worker.log"),
        start(["scheduler"], env, logs / "scheduler.log"),
    ]
    observed, stop = Observed(), threading.Event()
    observer = threading.Thread(target=observe, args=(database.engine, observed, stop))
    observer.start()
    p50, p95, p99, achieved = [], [], [], []
    try:
        wait_for_api(port)
        warm, _ = asyncio.run(load(port, api_key, range(1, WARM_UP + 1), 10, 1, observed))
        wait_for(observed, warm, 60)
        assert warm.keys() <= observed.at.keys(), "the stack did not act on warm-up events"
        for number in range(context.repeat):
            first = WARM_UP + number * count + 1
            contacts = range(first, first + count)
            sent, span = asyncio.run(load(port, api_key, contacts, rate, batch, observed))
            wait_for(observed, sent, 60)
            with observed.lock:
                latencies = [
                    (observed.at[k] - t) * 1000 for k, t in sent.items() if k in observed.at
                ]
            assert len(latencies) == count, f"{count - len(latencies)} events had no effect in 60 s"
            p50.append(percentile(latencies, 0.50))
            p95.append(percentile(latencies, 0.95))
            p99.append(percentile(latencies, 0.99))
            achieved.append(count / span)
    except Exception:
        for log in sorted(logs.glob("*.log")):
            console.print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        stop.set()
        observer.join()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
        forget_broker(broker)
        database.dispose()
    shape = (
        f"{rate:,.0f} events/s in requests of {batch} for {seconds:,.0f} s, "
        "1 API, 1 worker, 1 scheduler"
    )
    goal = "goal: p99 under 2 s; lower is better"
    return [
        Figure(
            "latency",
            f"event → update_contact committed, p{p}, {shape}",
            "ms",
            median(v),
            goal,
            GOAL_MS,
            context.repeat,
        )
        for p, v in (("50", p50), ("95", p95), ("99", p99))
    ] + [
        Figure(
            "latency",
            f"events accepted, {shape}",
            "events/s",
            median(achieved),
            "the rate asked for",
            rate,
            context.repeat,
        )
    ]
