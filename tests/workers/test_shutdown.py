"""SIGTERM to real ``nurture worker`` and ``nurture scheduler`` processes: a clean, quick exit
that loses nothing.

A stopping worker finishes the batches in progress, puts the messages it had prefetched back
on the queue and deletes its heartbeat; the next worker takes them at once (no waiting for the
sweep's lease). A stopping scheduler gives up its leader lease so a standby leads at once.
Each test runs on a fresh PostgreSQL database and a ``redis-server`` of its own.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from engine.clock import utcnow
from engine.contacts.service import ContactRow, upsert_contacts
from engine.operations.heartbeat import ProcessIdentity
from engine.runtime.enroll import enroll_contacts
from engine.runtime.journeys import CompiledJourneys
from engine.store.db import Database
from engine.store.models import Contact, ContactTag, Enrollment, ProcessHeartbeat
from tests.conftest import fresh_postgres_database
from tests.faults.fleet import Fleet, RedisServer, count, fleet_env, publish
from tests.workers.conftest import make_settings
from workers import jobs, runtime
from workers.broker import build_broker

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

#: Enrollments dispatched before the worker starts: 30 messages of 100.
N = 3_000
#: How long a stopping process may take (its batches take well under a second each).
EXIT_WITHIN = 20.0
NAMESPACE = "nurture"

JOURNEY = """\
dsl: journey/v1
id: shutdown-test
name: Shutdown test
version: 1
triggers:
  - event: signed_up
start: points
steps:
  points: {type: score, adjust: 1, reason: signed up, next: tagged}
  tagged: {type: tag, add: [shut-down-cleanly], next: done}
  done: {type: exit, reason: finished}
"""


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A fresh PostgreSQL database of this test alone (the workers see it from outside)."""
    with fresh_postgres_database("nurture_shutdown") as url:
        db = Database(url, pool_size=3)
        try:
            yield db
        finally:
            db.dispose()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A ``redis-server`` of this test alone, never the shared one."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def dispatch_due(database: Database, redis_server: RedisServer, tmp_path: Path) -> None:
    """Enroll N contacts and run one sweep here: N leased enrollments in messages on Redis."""
    publish(database, JOURNEY)
    now = utcnow()
    with database.unit_of_work() as session:
        emails = [f"stop-{i:05d}@example.com" for i in range(N)]
        ids = upsert_contacts(session, [ContactRow(email=e) for e in emails], now=now, reason="t")
        enroll_contacts(
            session, "shutdown-test", ids.ids.values(), now=now, journeys=CompiledJourneys()
        )
    settings = make_settings(tmp_path, database.url, broker_url=redis_server.url)
    broker = build_broker(settings)
    sweeper = runtime.Runtime(
        settings=settings, database=database, process=ProcessIdentity.current("scheduler")
    )
    try:
        assert jobs.sweep(sweeper) == N
    finally:
        broker.close()


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], *, within: float = EXIT_WITHIN) -> float:
    """SIGTERM the process; return how long it took to exit, failing after ``within`` s."""
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"pid {process.pid} still running {within} s after SIGTERM")
    return time.monotonic() - sent


def exited(database: Database) -> int:
    return count(database, Enrollment, Enrollment.status == "exited")


def test_a_worker_stopped_mid_run_finishes_its_batches_and_hands_the_rest_back(
    database: Database, redis_server: RedisServer, tmp_path: Path
) -> None:
    dispatch_due(database, redis_server, tmp_path)
    env = fleet_env(
        database.url,
        redis_server.url,
        tmp_path / "var",
        NURTURE_LOG_LEVEL="INFO",
        NURTURE_LOG_FORMAT="json",
    )
    fleet = Fleet(env=env, logs=tmp_path)
    client = redis.Redis.from_url(redis_server.url)
    try:
        first = fleet.start_worker(threads=2)
        wait_for(lambda: exited(database) > 0, 60, "the worker stepped nothing")
        stop(first)  # fails past EXIT_WITHIN
        done_by_first = exited(database)
        queued = client.llen(f"{NAMESPACE}:journeys")
        stranded = {
            key.decode(): client.scard(key) for key in client.scan_iter(f"{NAMESPACE}:__acks__*")
        }
        heartbeats = count(database, ProcessHeartbeat, ProcessHeartbeat.role == "worker")

        second = fleet.start_worker(threads=2)
        wait_for(lambda: exited(database) == N, 60, "the second worker did not finish the rest")
        stop(second)
    finally:
        fleet.stop()
        client.close()

    assert first.returncode == 0, fleet.tails()
    assert 0 < done_by_first < N, "SIGTERM came mid-run"
    assert heartbeats == 0, "a stopped worker deletes its heartbeat"
    assert sum(stranded.values()) == 0, f"messages left unacknowledged: {stranded}"
    assert queued * 100 == N - done_by_first, "every unfinished batch is back on the queue"
    with database.sessions() as session:
        assert session.scalar(select(func.count()).where(Enrollment.lease_owner.is_not(None))) == 0
        assert dict(
            session.execute(select(Contact.score, func.count()).group_by(Contact.score)).all()
        ) == {1: N}
        assert session.scalar(select(func.count()).select_from(ContactTag)) == N
    log = (tmp_path / "worker-0.log").read_text().splitlines()
    lines = [json.loads(line) for line in log if line.startswith("{")]  # not the banners
    batches = [line for line in lines if line["msg"] == "batch advanced"]
    assert sum(b["exited"] for b in batches) == done_by_first
    assert {(b["process"], b["logger"]) for b in batches} == {("worker", "workers.actors")}
    assert all(b["enrollments"] == 100 and b["duration_ms"] > 0 for b in batches)


def test_a_stopped_scheduler_releases_its_lead_at_once(
    database: Database, redis_server: RedisServer, tmp_path: Path
) -> None:
    fleet = Fleet(env=fleet_env(database.url, redis_server.url, tmp_path / "var"), logs=tmp_path)
    client = redis.Redis.from_url(redis_server.url)
    lease = f"{NAMESPACE}:scheduler:leader"
    try:
        scheduler = fleet.start_scheduler()
        wait_for(lambda: client.get(lease) is not None, 60, "the scheduler did not lead")
        stop(scheduler)  # fails past EXIT_WITHIN
        held = client.get(lease)
        heartbeats = count(database, ProcessHeartbeat)
    finally:
        fleet.stop()
        client.close()

    assert scheduler.returncode == 0, fleet.tails()
    assert held is None, "the lease is released, not left to lapse"
    assert heartbeats == 0


def test_a_worker_stopped_while_redis_is_down_exits_cleanly_and_leaves_the_rest_due(
    database: Database, redis_server: RedisServer, tmp_path: Path
) -> None:
    dispatch_due(database, redis_server, tmp_path)
    fleet = Fleet(env=fleet_env(database.url, redis_server.url, tmp_path / "var"), logs=tmp_path)
    try:
        worker = fleet.start_worker(threads=2)
        wait_for(lambda: exited(database) > 0, 60, "the worker stepped nothing")
        redis_server.kill()
        time.sleep(1.0)
        # Acknowledgements cannot reach Redis: the worker waits for them up to its 30 s
        # shutdown limit, then exits, within the systemd unit's TimeoutStopSec.
        took = stop(worker, within=45.0)
        heartbeats = count(database, ProcessHeartbeat)
    finally:
        fleet.stop()

    assert worker.returncode == 0, fleet.tails()
    assert heartbeats == 0
    with database.sessions() as session:
        left, latest_wake = session.execute(
            select(func.count(), func.max(Enrollment.wake_at)).where(Enrollment.status != "exited")
        ).one()
    assert 0 < left < N
    assert latest_wake is not None
    assert latest_wake <= utcnow(), "every unfinished enrollment is due: the sweep resends it"
    print(f"\nstopped in {took:.1f} s with Redis down; {left} enrollments left due")
