"""Crash faults against real processes: ``kill -9`` workers while thousands of enrollments run.

The journey runtime promises (issue 3) that a worker killed at any instant loses nothing and
repeats nothing: after restarts every enrollment completes, each action ran once. This test
runs the production roles as real subprocesses (two ``nurture scheduler`` and two
``nurture worker``) on a fresh PostgreSQL database and a dedicated Redis database, streams
events in while killing workers (and one scheduler) with SIGKILL, starts replacements, then
waits for every enrollment to exit and checks each effect happened exactly once.

Knobs (environment): ``NURTURE_FAULT_ENROLLMENTS`` (default 2,000),
``NURTURE_FAULT_REDIS_URL`` (default ``redis://127.0.0.1:6379/13``, flushed before and after),
``NURTURE_FAULT_SETTLE_S`` (how long to wait for the last enrollment, default 150).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from engine.clock import utcnow
from engine.events.schemas import EventIn
from engine.events.service import ingest_events
from engine.store.db import Database
from tests.faults.fleet import (
    Fleet,
    assert_each_action_ran_once,
    fleet_env,
    publish,
    settling,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

N = int(os.environ.get("NURTURE_FAULT_ENROLLMENTS", "2000"))
REDIS_URL = os.environ.get("NURTURE_FAULT_REDIS_URL", "redis://127.0.0.1:6379/13")
SETTLE_S = float(os.environ.get("NURTURE_FAULT_SETTLE_S", "150"))
#: Events per ingest call (one events.route outbox row, so one route_events message, each).
BATCH = 50
#: SIGKILLs of a random worker during the run, each followed by a replacement.
KILLS = 6

JOURNEY = """\
dsl: journey/v1
id: crash-test
name: Crash test
version: 1
triggers:
  - event: signed_up
entry: {reentry: never}
defaults: {send_email: {from: {name: Acme, email: hello@acme.io}}}
start: points
steps:
  points: {type: score, adjust: 1, reason: signed up, next: welcome}
  welcome: {type: send_email, template: welcome, subject: Welcome, next: pause}
  pause: {type: wait, duration: 2s, next: tagged}
  tagged: {type: tag, add: [crash-tested], next: done}
  done: {type: exit, reason: crash survived}
"""


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A Redis database of this test alone (the broker's namespace is not configurable)."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


def _ingest(database: Database, errors: list[BaseException]) -> None:
    """Send N signed_up events for N new contacts, BATCH at a time, as an API client would."""
    try:
        for start in range(0, N, BATCH):
            events = [
                EventIn(
                    type="signed_up",
                    email=f"crash-{i:05d}@example.com",
                    idempotency_key=f"crash:{i}",
                )
                for i in range(start, min(start + BATCH, N))
            ]
            with database.unit_of_work() as session:
                ingest_events(session, events, now=utcnow(), source="test")
            time.sleep(0.2)
    except BaseException as error:
        errors.append(error)


def _stranded(url: str) -> dict[str, int]:
    """Unacked broker messages per worker; a dead worker's wait for dramatiq's maintenance."""
    client = redis.Redis.from_url(url)
    try:
        return {k.decode(): int(client.scard(k)) for k in client.scan_iter(match="*__acks__*")}
    finally:
        client.close()


def test_kill_9_workers_loses_nothing_and_repeats_nothing(
    database_url: str, broker_url: str, tmp_path: Path
) -> None:
    database = Database(database_url, pool_size=3)
    publish(database, JOURNEY)
    env = fleet_env(database_url, broker_url, tmp_path / "var")
    fleet = Fleet(env=env, logs=tmp_path)
    timings: dict[str, float] = {}
    began = time.monotonic()
    try:
        fleet.start_scheduler()
        fleet.start_scheduler()  # two at once: only the leader may sweep
        fleet.start_worker()
        fleet.start_worker()
        errors: list[BaseException] = []
        feeder = threading.Thread(target=_ingest, args=(database, errors), daemon=True)
        feeder.start()

        for round_ in range(KILLS):
            time.sleep(random.uniform(2.0, 4.0))
            fleet.kill(fleet.workers, "worker")
            if round_ == KILLS // 2:
                fleet.kill(fleet.schedulers, "scheduler")
                fleet.start_scheduler()
            time.sleep(random.uniform(0.0, 1.0))
            fleet.start_worker()
        feeder.join(timeout=120)
        assert not feeder.is_alive(), "ingestion did not finish"
        assert not errors, errors
        timings["chaos"] = time.monotonic() - began

        deadline = time.monotonic() + SETTLE_S
        progress: tuple[int, int, int] = (0, 0, 0)
        trace: list[tuple[float, tuple[int, int, int]]] = []
        while time.monotonic() < deadline:
            progress = settling(database)
            if not trace or trace[-1][1] != progress:
                trace.append((round(time.monotonic() - began, 1), progress))
            if progress == (N, N, 0):
                break
            time.sleep(1.0)
        timings["settled"] = time.monotonic() - began
        stranded = _stranded(broker_url)
        assert all(p.poll() is None for p in fleet.workers + fleet.schedulers), fleet.tails()
    finally:
        fleet.stop()

    print(f"\nN={N} kills={fleet.kills} timings={timings} final={progress}")
    print("progress (s, (enrollments, exited, undispatched routes)):", trace)
    try:
        assert progress == (N, N, 0), (
            f"not settled after {SETTLE_S:.0f}s: (enrollments, exited, undispatched routes)="
            f"{progress}, kills={fleet.kills}, trace={trace}, unacked={stranded}\n"
            f"{fleet.tails()}"
        )
        assert_each_action_ran_once(database, N, exit_reason="crash survived", tag="crash-tested")
    finally:
        database.dispose()
