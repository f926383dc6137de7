"""Fixtures of the fault tests: a throwaway PostgreSQL database and a Redis server of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fresh_postgres_database
from tests.faults.fleet import RedisServer


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of this test alone, dropped afterwards."""
    with fresh_postgres_database("nurture_fault") as url:
        yield url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running ``redis-server`` of this test alone, never the shared one."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
