"""A broker that refuses connections: the relay and the sweep hand back what they could not send.

Without that, rows and enrollments claimed while Redis is down would wait out their lease
(30 s and 60 s) after it returns; handed back, the first round after it returns sends them.
The broker here is a real RedisBroker pointed at a loopback port nobody listens on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from engine.operations.heartbeat import ProcessIdentity
from engine.runtime import outbox
from engine.runtime.topics import ROUTE_EVENTS
from engine.store.db import Database
from engine.store.models import Enrollment, OutboxMessage
from tests.engine.runtime.test_advance import NOW, yamada  # noqa: F401 - fixture
from tests.faults.fleet import free_port
from tests.workers.conftest import make_settings
from workers import jobs, runtime
from workers.broker import build_broker
from workers.relay import relay


@pytest.fixture
def down(tmp_path: Path, database: Database) -> Iterator[runtime.Runtime]:
    """This process's runtime, its broker a Redis that is not there."""
    settings = make_settings(
        tmp_path, database.url, broker_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    broker = build_broker(settings)
    installed = runtime.Runtime(
        settings=settings,
        database=database,
        process=ProcessIdentity.current("scheduler"),
        clock=lambda: NOW,
    )
    runtime.install(installed)
    try:
        yield installed
    finally:
        runtime.uninstall()
        broker.close()


def test_relay_hands_back_the_rows_the_broker_refused(database, down):
    with database.unit_of_work() as session:
        row_id = outbox.enqueue(session, ROUTE_EVENTS, {"event_ids": [1]}, now=NOW)

    sent = relay(down)

    with database.sessions() as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        assert (row.available_at, row.attempts, row.done_at) == (NOW, 0, None)
    assert sent == 0


def test_sweep_hands_back_the_enrollments_the_broker_refused(database, down, yamada):  # noqa: F811
    _, enrollment_id = yamada

    with pytest.raises(redis.ConnectionError):
        jobs.sweep(down)

    with database.sessions() as session:
        lease = session.execute(
            select(Enrollment.lease_owner, Enrollment.lease_until).where(
                Enrollment.id == enrollment_id
            )
        ).one()
    assert tuple(lease) == (None, None)
