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
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from engine.clock import utcnow
from engine.events.schemas import EventIn
from engine.events.service import ingest_events
from engine.journey import validate_journey
from engine.runtime.topics import ROUTE_EVENTS
from engine.store.db import Database
from engine.store.models import (
    Contact,
    ContactTag,
    Enrollment,
    Journey,
    JourneyVersion,
    Message,
    OutboxMessage,
    ScoreChange,
)
from tests.conftest import TEST_SECRET, fresh_postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

N = int(os.environ.get("NURTURE_FAULT_ENROLLMENTS", "2000"))
REDIS_URL = os.environ.get("NURTURE_FAULT_REDIS_URL", "redis://127.0.0.1:6379/13")
SETTLE_S = float(os.environ.get("NURTURE_FAULT_SETTLE_S", "150"))
#: Events per ingest call (one events.route outbox row, so one route_events message, each).
BATCH = 50
#: SIGKILLs of a random worker during the run, each followed by a replacement.
KILLS = 6
NURTURE = Path(sys.executable).with_name("nurture")

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
def database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of this test alone, dropped afterwards."""
    with fresh_postgres_database("nurture_fault") as url:
        yield url


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


@dataclass
class Fleet:
    """The subprocesses of one run; every one started is stopped at the end."""

    env: dict[str, str]
    logs: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    schedulers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{args[0]}-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [str(NURTURE), *args],
            env=self.env,
            cwd=self.logs,  # no stray .env is read
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started.append(process)
        return process

    def start_worker(self) -> None:
        self.workers.append(self.start("worker", "--processes", "1", "--threads", "4"))

    def start_scheduler(self) -> None:
        self.schedulers.append(self.start("scheduler"))

    def kill(self, group: list[subprocess.Popen[bytes]], label: str) -> None:
        victim = random.choice(group)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        group.remove(victim)
        self.kills.append(f"{label} {victim.pid}")

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def tails(self, lines: int = 15) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            body = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(body))
        return "\n".join(parts)


def _publish(database: Database) -> None:
    spec = validate_journey(JOURNEY, "crash-test.yaml").spec
    assert spec is not None
    now = utcnow()
    with database.unit_of_work() as session:
        session.add(
            Journey(
                id=spec.id,
                name=spec.name,
                status="active",
                active_version=1,
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            JourneyVersion(
                journey_id=spec.id,
                version=1,
                source=JOURNEY,
                spec={},
                checksum="x",
                published_at=now,
                published_by="test",
            )
        )


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


def _count(database: Database, model: Any, *where: Any) -> int:
    with database.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_kill_9_workers_loses_nothing_and_repeats_nothing(
    database_url: str, broker_url: str, tmp_path: Path
) -> None:
    database = Database(database_url, pool_size=3)
    _publish(database)
    env = {
        **os.environ,
        "NURTURE_DATABASE_URL": database_url,
        "NURTURE_BROKER_URL": broker_url,
        "NURTURE_REDIS_URL": broker_url,
        "NURTURE_SECRET_KEY": TEST_SECRET,
        "NURTURE_VAR_DIR": str(tmp_path / "var"),
        "NURTURE_SMTP_URL": "",
        "NURTURE_LOG_LEVEL": "WARNING",
    }
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
            progress = (
                _count(database, Enrollment),
                _count(database, Enrollment, Enrollment.status == "exited"),
                _count(
                    database,
                    OutboxMessage,
                    OutboxMessage.topic == ROUTE_EVENTS,
                    OutboxMessage.done_at.is_(None),
                ),
            )
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
        with database.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Contact)) == N
            per_contact = session.execute(
                select(Enrollment.contact_id, func.count())
                .group_by(Enrollment.contact_id)
                .having(func.count() != 1)
            ).all()
            assert per_contact == [], "contacts with other than one enrollment"
            reasons = dict(
                session.execute(
                    select(Enrollment.exit_reason, func.count()).group_by(Enrollment.exit_reason)
                ).all()
            )
            assert reasons == {"crash survived": N}
            assert session.scalar(select(func.count()).select_from(Message)) == N
            assert session.scalar(select(func.count(func.distinct(Message.enrollment_id)))) == N
            scores = dict(
                session.execute(select(Contact.score, func.count()).group_by(Contact.score)).all()
            )
            assert scores == {1: N}, "each contact's +1 applied exactly once"
            assert session.scalar(select(func.count()).select_from(ScoreChange)) == N
            tags = session.execute(
                select(
                    ContactTag.tag, func.count(), func.count(func.distinct(ContactTag.contact_id))
                ).group_by(ContactTag.tag)
            ).all()
            assert [tuple(t) for t in tags] == [("crash-tested", N, N)]
    finally:
        database.dispose()
