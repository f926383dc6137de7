"""Broker fault against real processes: Redis dies mid-run, losing every queued message.

Production roles run as subprocesses (``nurture api``, two ``nurture scheduler``, two
``nurture worker``) on a fresh PostgreSQL database and a ``redis-server`` of this test alone.
A client posts signed_up events to the API; while it does, Redis is killed with SIGKILL (no
persistence, so queued and in-flight messages are gone) and started again, empty, on the same
port a few seconds later. Every process must ride it out; the outbox leases and the sweep must
send again what was lost, so every enrollment completes and every action ran exactly once.

Knobs (environment): ``NURTURE_FAULT_ENROLLMENTS`` (default 3,000), ``NURTURE_FAULT_SETTLE_S``
(how long to wait for the last enrollment, default 100).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.auth.apikeys import create_api_key
from engine.clock import utcnow
from engine.store.db import Database
from tests.faults.fleet import (
    Fleet,
    RedisServer,
    assert_each_action_ran_once,
    fleet_env,
    free_port,
    publish,
    settling,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

N = int(os.environ.get("NURTURE_FAULT_ENROLLMENTS", "3000"))
SETTLE_S = float(os.environ.get("NURTURE_FAULT_SETTLE_S", "100"))
#: Events per POST (one events.route outbox row, so one route_events message, each).
BATCH = 50
#: Seconds of posting before Redis dies, and how long it stays down.
KILL_AFTER = 2.5
DOWN_FOR = 4.0

JOURNEY = """\
dsl: journey/v1
id: redis-restart
name: Redis restart
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
  tagged: {type: tag, add: [broker-restarted], next: done}
  done: {type: exit, reason: broker restart survived}
"""


class Poster:
    """Post N events to the API, BATCH per call, as a web site's backend would."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {key}"}
        self.statuses: list[int] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as client:
                for start in range(0, N, BATCH):
                    events = [
                        {
                            "type": "signed_up",
                            "email": f"restart-{i:05d}@example.com",
                            "idempotency_key": f"restart:{i}",
                        }
                        for i in range(start, min(start + BATCH, N))
                    ]
                    self.statuses.append(client.post("/api/events", json=events).status_code)
                    time.sleep(0.05)
        except BaseException as error:
            self.errors.append(error)


def runtime_health(base: str, key: str) -> dict[str, Any]:
    response = httpx.get(
        f"{base}/api/health/runtime", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_until_ok(base: str, key: str, *, timeout: float) -> dict[str, Any]:
    """Poll the runtime health until it says ok (workers and a leader reporting)."""
    deadline = time.monotonic() + timeout
    health = runtime_health(base, key)
    while health["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.5)
        health = runtime_health(base, key)
    return health


def test_redis_killed_and_restarted_loses_nothing_and_repeats_nothing(
    database_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    database = Database(database_url, pool_size=3)
    publish(database, JOURNEY)
    with database.unit_of_work() as session:
        key = create_api_key(session, name="fault test", scopes=["admin"], now=utcnow())
    fleet = Fleet(env=fleet_env(database_url, redis_server.url, tmp_path / "var"), logs=tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    timings: dict[str, float] = {}
    trace: list[tuple[float, tuple[int, int, int]]] = []
    progress = (0, 0, 0)
    began = time.monotonic()
    try:
        fleet.start_api(port)
        fleet.start_scheduler()
        fleet.start_scheduler()
        fleet.start_worker()
        fleet.start_worker()
        ready = wait_until_ok(base, key, timeout=30)
        assert ready["status"] == "ok", f"{ready}\n{fleet.tails()}"
        timings["ready"] = time.monotonic() - began
        poster = Poster(base, key)
        feeder = threading.Thread(target=poster.run, daemon=True)
        feeder.start()

        time.sleep(KILL_AFTER)
        redis_server.kill()
        timings["redis killed"] = time.monotonic() - began
        time.sleep(DOWN_FOR / 2)
        during = runtime_health(base, key)
        time.sleep(DOWN_FOR / 2)
        redis_server.start()
        timings["redis back"] = time.monotonic() - began

        feeder.join(timeout=120)
        assert not feeder.is_alive(), "posting did not finish"
        assert not poster.errors, poster.errors
        timings["posted"] = time.monotonic() - began

        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            progress = settling(database)
            if not trace or trace[-1][1] != progress:
                trace.append((round(time.monotonic() - began, 1), progress))
            if progress == (N, N, 0):
                break
            time.sleep(1.0)
        timings["settled"] = time.monotonic() - began
        dead = [(p.args, p.returncode) for p in fleet.started if p.poll() is not None]
        after = runtime_health(base, key)
    finally:
        fleet.stop()

    print(f"\nN={N} timings={timings} final={progress}")
    print("progress (s, (enrollments, exited, undispatched routes)):", trace)
    try:
        assert dead == [], f"processes died with Redis: {dead}\n{fleet.tails()}"
        assert set(poster.statuses) == {202}, "the API accepts events while the broker is down"
        assert during["status"] == "degraded"
        assert during["broker"]["reachable"] is False
        assert progress == (N, N, 0), (
            f"not settled after {SETTLE_S:.0f}s: (enrollments, exited, undispatched routes)="
            f"{progress}, trace={trace}\n{fleet.tails()}"
        )
        assert after["broker"]["reachable"], after
        assert after["scheduler"]["leader"] is not None, after
        assert after["workers"]["alive"] == 2, after
        assert_each_action_ran_once(
            database, N, exit_reason="broker restart survived", tag="broker-restarted"
        )
    finally:
        database.dispose()
