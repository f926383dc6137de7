"""Actors on real brokers: the in-process StubBroker and a RedisBroker, each with a real Worker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Retries, TimeLimit
from sqlalchemy import select

from engine.clock import utcnow
from engine.operations.heartbeat import ProcessIdentity, beat
from engine.store.db import Database
from engine.store.models import ProcessHeartbeat
from tests.workers.conftest import REDIS_URL, make_settings
from workers import actors, runtime
from workers.broker import build_broker, current_broker, describe_broker, standard_middleware

WORKER = ProcessIdentity(role="worker", host="test-host", pid=4242)


@pytest.fixture
def worker_row(database: Database) -> None:
    """The heartbeat row of the worker the probe will be recorded on."""
    now = utcnow()
    with database.unit_of_work() as session:
        beat(session, WORKER, started_at=now, now=now, info={"version": "test"})


def _install(database: Database, tmp_path: Path, broker_url: str = "") -> None:
    settings = make_settings(tmp_path, database.url, broker_url=broker_url)
    runtime.install(runtime.Runtime(settings=settings, database=database, process=WORKER))


def _probe_info(database: Database) -> dict[str, object]:
    with database.sessions() as session:
        row = session.scalars(
            select(ProcessHeartbeat).where(ProcessHeartbeat.id == WORKER.id)
        ).one()
        return dict(row.info)


def _run_probe(broker: dramatiq.Broker) -> str:
    """Send one probe and let a real Worker process it; return the sent_at sent."""
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        sent_at = (utcnow() - timedelta(milliseconds=50)).isoformat()
        actors.probe.send(sent_at)
        broker.join(actors.OPERATIONS_QUEUE, timeout=10_000)
        worker.join()
    finally:
        worker.stop(timeout=5_000)
        runtime.uninstall()
    return sent_at


def test_stub_broker_worker_processes_the_probe(
    database: Database, tmp_path: Path, worker_row: None
) -> None:
    settings = make_settings(tmp_path, database.url)
    broker = build_broker(settings)
    _install(database, tmp_path)

    sent_at = _run_probe(broker)

    assert isinstance(broker, StubBroker)
    assert dramatiq.get_broker() is broker
    probe = _probe_info(database)["probe"]
    assert isinstance(probe, dict)
    assert probe["sent_at"] == sent_at
    assert probe["latency_ms"] >= 50
    assert _probe_info(database)["version"] == "test"  # merged, not replaced
    broker.close()


def test_redis_broker_worker_processes_the_probe(
    database: Database,
    tmp_path: Path,
    worker_row: None,
    namespace: str,
    redis_client: redis.Redis[bytes],
) -> None:
    settings = make_settings(tmp_path, database.url, broker_url=REDIS_URL)
    broker = build_broker(settings, namespace=namespace)
    _install(database, tmp_path, REDIS_URL)
    try:
        sent_at = _run_probe(broker)
        queue_keys = list(redis_client.scan_iter(match=f"{namespace}:*"))
    finally:
        broker.flush_all()
        broker.close()

    assert isinstance(broker, RedisBroker)
    assert queue_keys  # the message really went through this test's Redis namespace
    probe = _probe_info(database)["probe"]
    assert isinstance(probe, dict)
    assert probe["sent_at"] == sent_at


def test_actors_follow_the_newest_broker(tmp_path: Path) -> None:
    first = build_broker(make_settings(tmp_path, "sqlite://"))
    bound_first = actors.probe.actor
    second = build_broker(make_settings(tmp_path, "sqlite://"))

    assert bound_first.broker is first
    assert actors.probe.actor.broker is second is current_broker()
    assert "heartbeats.probe" in second.get_declared_actors()
    assert actors.OPERATIONS_QUEUE in second.get_declared_queues()


def test_broker_middleware_has_backoff_and_no_prometheus(tmp_path: Path) -> None:
    broker = build_broker(make_settings(tmp_path, "sqlite://"))
    kinds = {type(m).__name__ for m in broker.middleware}
    retries = next(m for m in broker.middleware if isinstance(m, Retries))

    assert {AgeLimit.__name__, TimeLimit.__name__, Retries.__name__, Callbacks.__name__} <= kinds
    assert "Prometheus" not in kinds
    assert 0 < retries.min_backoff < retries.max_backoff


def test_describe_broker_hides_the_password(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, "sqlite://", broker_url="redis://:s3cret@redis.internal:6380/2"
    )

    assert describe_broker(settings) == "redis://redis.internal:6380/2"
    assert describe_broker(make_settings(tmp_path, "sqlite://")) == "in-process"


def test_messages_fetched_but_not_run_go_back_to_the_queue_when_a_worker_stops(
    tmp_path: Path, namespace: str, redis_client: redis.Redis[bytes]
) -> None:
    """A Redis consumer fetches several messages at once; those it has not passed on when
    its worker stops are requeued, not left in the worker's acknowledgement set."""
    from queue import PriorityQueue

    from dramatiq.worker import ConsumerThread

    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=REDIS_URL, namespace=namespace, middleware=standard_middleware()
    )
    broker.declare_queue("journeys")
    for n in range(5):
        broker.enqueue(dramatiq.Message("journeys", "advance_batch", (n,), {}, {}))
    consumer = broker.consume("journeys", prefetch=5, timeout=100)
    try:
        handed_on = next(consumer)  # all five fetched; one passed on to a worker thread
        assert handed_on is not None
        thread = ConsumerThread(
            broker=broker,
            queue_name="journeys",
            prefetch=5,
            work_queue=PriorityQueue(),
            worker_timeout=100,
        )
        thread.consumer = consumer
        broker.emit_before("consumer_thread_shutdown", thread)  # as the stopping thread does

        queued = [
            dramatiq.Message.decode(m) for m in redis_client.hvals(f"{namespace}:journeys.msgs")
        ]
        waiting = redis_client.lrange(f"{namespace}:journeys", 0, -1)
        acks = [k for k in redis_client.scan_iter(match=f"{namespace}:__acks__*")]
        held = set().union(*(redis_client.smembers(k) for k in acks))
    finally:
        broker.close()

    assert len(queued) == 5  # nothing was lost
    assert len(waiting) == 4 and handed_on.options["redis_message_id"].encode() not in waiting
    assert held == {handed_on.options["redis_message_id"].encode()}  # only the one running
