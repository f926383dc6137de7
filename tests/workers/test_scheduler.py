"""Scheduler leadership on real Redis and PostgreSQL: one leader, standbys take over."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.store.db import Database
from tests.conftest import POSTGRES_URL
from tests.workers.conftest import REDIS_URL, make_settings
from workers.leadership import (
    PostgresAdvisoryLock,
    RedisLease,
    SingleProcessLeadership,
    leadership_for,
)
from workers.scheduler import JobRegistry, LeaderScheduler

TTL = 1.0  # seconds: short, so takeover is quick to observe
RENEW = timedelta(seconds=TTL / 5)
JOB_EVERY = timedelta(milliseconds=50)


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Poll until ``condition`` holds; return the seconds it took, or fail."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


class Runs:
    """Which scheduler ran the job, in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.names: list[str] = []

    def job(self, name: str) -> Callable[[], None]:
        def run() -> None:
            with self._lock:
                self.names.append(name)

        return run

    def since(self, index: int) -> list[str]:
        with self._lock:
            return self.names[index:]

    def __len__(self) -> int:
        with self._lock:
            return len(self.names)


@pytest.fixture
def make_scheduler(
    redis_client: redis.Redis[bytes], namespace: str
) -> Iterator[Callable[[str, Runs], LeaderScheduler]]:
    """Build schedulers sharing one lease key; all are shut down after the test."""
    made: list[LeaderScheduler] = []

    def make(name: str, runs: Runs) -> LeaderScheduler:
        registry = JobRegistry()
        registry.every("test.sweep", JOB_EVERY, runs.job(name))
        lease = RedisLease(
            redis.Redis.from_url(REDIS_URL), key=f"{namespace}:leader", owner=name, ttl=TTL
        )
        scheduler = LeaderScheduler(registry, lease, renew_every=RENEW, name=name)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.shutdown()


def test_one_of_two_schedulers_leads_and_only_it_runs_jobs(
    make_scheduler: Callable[[str, Runs], LeaderScheduler],
) -> None:
    runs = Runs()
    first, second = make_scheduler("first", runs), make_scheduler("second", runs)
    first.start()
    second.start()

    wait_for(lambda: first.is_leader or second.is_leader, timeout=2)
    leader = first if first.is_leader else second
    mark = len(runs)
    wait_for(lambda: len(runs) >= mark + 5, timeout=3)

    assert first.is_leader != second.is_leader
    assert set(runs.since(mark)) == {leader.name}


def test_a_standby_takes_over_within_two_lease_periods_when_the_leader_dies(
    make_scheduler: Callable[[str, Runs], LeaderScheduler],
) -> None:
    runs = Runs()
    first, second = make_scheduler("first", runs), make_scheduler("second", runs)
    first.start()
    wait_for(lambda: first.is_leader, timeout=2)
    second.start()
    time.sleep(RENEW.total_seconds() * 2)  # the standby has tried, and failed, to take over

    assert not second.is_leader
    first.shutdown(release=False)  # as if killed: the lease is left to lapse
    mark = len(runs)
    took = wait_for(lambda: second.is_leader, timeout=2 * TTL)
    wait_for(lambda: len(runs) >= mark + 3, timeout=2)

    assert took > TTL / 2  # it waited for the lease to lapse, it did not steal it
    assert set(runs.since(mark)) == {"second"}


def test_a_clean_stop_hands_over_at_once(
    make_scheduler: Callable[[str, Runs], LeaderScheduler],
    redis_client: redis.Redis[bytes],
    namespace: str,
) -> None:
    runs = Runs()
    first, second = make_scheduler("first", runs), make_scheduler("second", runs)
    first.start()
    wait_for(lambda: first.is_leader, timeout=2)
    second.start()

    first.shutdown()  # releases the lease
    took = wait_for(lambda: second.is_leader, timeout=2 * TTL)

    assert took < TTL / 2 + RENEW.total_seconds()
    assert redis_client.get(f"{namespace}:leader") == b"second"


def test_a_lease_is_renewed_only_by_its_owner(
    redis_client: redis.Redis[bytes], namespace: str
) -> None:
    key = f"{namespace}:lease"
    mine = RedisLease(redis_client, key=key, owner="mine", ttl=TTL)
    theirs = RedisLease(redis_client, key=key, owner="theirs", ttl=TTL)

    assert mine.acquire_or_renew() and mine.is_leader
    assert not theirs.acquire_or_renew() and not theirs.is_leader
    assert mine.acquire_or_renew()
    theirs.release()  # not theirs to release
    assert redis_client.get(key) == b"mine"
    mine.release()
    assert not mine.is_leader
    assert redis_client.get(key) is None
    assert theirs.acquire_or_renew()


def test_an_unreachable_redis_means_not_leading() -> None:
    lease = RedisLease(
        redis.Redis(
            host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
        ),
        key="nurture-test:unreachable",
        owner="me",
        ttl=TTL,
    )

    assert not lease.acquire_or_renew()
    assert not lease.is_leader


@pytest.mark.postgres
def test_postgres_advisory_lock_has_one_holder_and_frees_on_disconnect() -> None:
    name = f"nurture-test-{uuid.uuid4().hex}"
    first = PostgresAdvisoryLock(POSTGRES_URL, name=name, ttl=TTL)
    second = PostgresAdvisoryLock(POSTGRES_URL, name=name, ttl=TTL)
    try:
        assert first.acquire_or_renew() and first.is_leader
        assert not second.acquire_or_renew()
        assert first.acquire_or_renew()  # renewing keeps it
        first._close()  # the session ends, as when the process dies
        wait_for(second.acquire_or_renew, timeout=2)  # once the server has noticed
        assert second.is_leader
        second.release()
        assert first.acquire_or_renew()
    finally:
        first.release()
        second.release()
        first.engine.dispose()
        second.engine.dispose()


def test_embedded_mode_has_a_single_leader_that_runs_jobs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'nurture.db'}")
    database = Database(settings.resolved_database_url)
    leadership = leadership_for(settings, database, owner="up")
    runs = Runs()
    registry = JobRegistry()
    registry.every("test.sweep", JOB_EVERY, runs.job("up"))
    scheduler = LeaderScheduler(registry, leadership, renew_every=RENEW)
    scheduler.start()
    try:
        wait_for(lambda: len(runs) >= 3, timeout=3)
    finally:
        scheduler.shutdown()
        database.dispose()
    count = len(runs)
    time.sleep(JOB_EVERY.total_seconds() * 3)

    assert settings.embedded
    assert isinstance(leadership, SingleProcessLeadership)
    assert scheduler.is_leader
    assert len(runs) == count  # nothing runs after shutdown


def test_production_settings_pick_the_redis_lease(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, POSTGRES_URL, broker_url=REDIS_URL)
    database = Database(settings.resolved_database_url)
    try:
        leadership = leadership_for(settings, database, owner="scheduler")
    finally:
        database.dispose()

    assert isinstance(leadership, RedisLease)


def test_a_job_name_is_registered_once_and_intervals_are_positive() -> None:
    registry = JobRegistry()
    registry.every("a", timedelta(seconds=1), lambda: None)

    with pytest.raises(ValueError, match="already registered"):
        registry.every("a", timedelta(seconds=1), lambda: None)
    with pytest.raises(ValueError, match="must be positive"):
        registry.every("b", timedelta(0), lambda: None)
    assert registry.names() == ["a"]
