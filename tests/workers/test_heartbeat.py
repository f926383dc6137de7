"""Process heartbeats against each test database: upsert, liveness window, probe, prune."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from engine.operations.heartbeat import (
    HeartbeatLoop,
    ProcessIdentity,
    beat,
    forget,
    live_processes,
    prune,
    record_probe,
)
from engine.store.db import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
API = ProcessIdentity(role="api", host="web-1", pid=100)
WORKER = ProcessIdentity(role="worker", host="work-1", pid=200)


def test_beat_inserts_then_refreshes_one_row(database: Database) -> None:
    with database.unit_of_work() as session:
        beat(session, API, started_at=NOW, now=NOW, info={"version": "1", "queues": []})
    with database.unit_of_work() as session:
        beat(session, API, started_at=NOW, now=NOW + timedelta(seconds=10), info={"version": "2"})
    with database.sessions() as session:
        live = live_processes(session, now=NOW + timedelta(seconds=11))

    assert [(p.id, p.role, p.host, p.pid) for p in live] == [("web-1:100:api", "api", "web-1", 100)]
    assert live[0].seen_at == NOW + timedelta(seconds=10)
    assert live[0].started_at == NOW
    assert live[0].info == {"version": "2", "queues": []}


def test_only_processes_seen_within_30_seconds_are_live(database: Database) -> None:
    with database.unit_of_work() as session:
        beat(session, API, started_at=NOW, now=NOW, info={})
        beat(session, WORKER, started_at=NOW, now=NOW + timedelta(seconds=5), info={})
    with database.sessions() as session:
        at_31 = [p.id for p in live_processes(session, now=NOW + timedelta(seconds=31))]
        at_20 = [p.id for p in live_processes(session, now=NOW + timedelta(seconds=20))]

    assert at_31 == [WORKER.id]
    assert at_20 == [API.id, WORKER.id]


def test_a_probe_survives_the_next_beat(database: Database) -> None:
    with database.unit_of_work() as session:
        beat(session, WORKER, started_at=NOW, now=NOW, info={"threads": 8})
        recorded = record_probe(session, WORKER, sent_at=NOW, now=NOW + timedelta(milliseconds=120))
        missing = record_probe(session, API, sent_at=NOW, now=NOW + timedelta(milliseconds=120))
    with database.unit_of_work() as session:
        beat(session, WORKER, started_at=NOW, now=NOW + timedelta(seconds=10), info={"threads": 8})
    with database.sessions() as session:
        (worker,) = live_processes(session, now=NOW + timedelta(seconds=10))

    assert recorded and not missing
    assert worker.info["threads"] == 8
    assert worker.info["probe"]["latency_ms"] == 120


def test_prune_deletes_rows_unseen_for_an_hour_and_forget_deletes_one(database: Database) -> None:
    with database.unit_of_work() as session:
        beat(session, API, started_at=NOW, now=NOW - timedelta(minutes=61), info={})
        beat(session, WORKER, started_at=NOW, now=NOW - timedelta(minutes=59), info={})
    with database.unit_of_work() as session:
        removed = prune(session, now=NOW)
    with database.sessions() as session:
        after_prune = [p.id for p in live_processes(session, now=NOW, within=timedelta(hours=2))]
    with database.unit_of_work() as session:
        forget(session, WORKER)
    with database.sessions() as session:
        after_forget = live_processes(session, now=NOW, within=timedelta(hours=2))

    assert removed == 1
    assert after_prune == [WORKER.id]
    assert after_forget == []


def test_loop_beats_on_start_and_every_interval_and_deletes_its_row_on_stop(
    database: Database,
) -> None:
    calls: list[int] = []

    def info() -> dict[str, object]:
        calls.append(1)
        return {"beats": len(calls)}

    loop = HeartbeatLoop(database, API, info=info, interval=timedelta(milliseconds=50))
    loop.start()
    try:
        with database.sessions() as session:
            first = live_processes(session, now=datetime.now(UTC))
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while len(calls) < 3 and datetime.now(UTC) < deadline:
            time.sleep(0.02)
    finally:
        loop.stop()
    with database.sessions() as session:
        after = live_processes(session, now=datetime.now(UTC))

    assert [p.id for p in first] == [API.id]
    assert len(calls) >= 3
    assert after == []


def test_identity_names_host_pid_and_role() -> None:
    me = ProcessIdentity.current("scheduler")

    assert me.id.endswith(f":{me.pid}:scheduler")
    with pytest.raises(ValueError, match="unknown process role"):
        ProcessIdentity.current("cron")
