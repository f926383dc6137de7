"""Fixtures for the process roles: a real Redis, and settings for each broker kind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from engine.settings import Settings
from tests.conftest import TEST_SECRET

REDIS_URL = os.environ.get("NURTURE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_client() -> Iterator[redis.Redis[bytes]]:
    """A client of the test Redis; a down server fails the test rather than skipping it."""
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    yield client
    client.close()


@pytest.fixture
def namespace(redis_client: redis.Redis[bytes]) -> Iterator[str]:
    """A Redis key prefix of this test alone, deleted afterwards."""
    prefix = f"nurture-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)


def make_settings(tmp_path: Path, database_url: str, *, broker_url: str = "") -> Settings:
    """Settings for a test, every service named explicitly (no env var leaks in)."""
    return Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        broker_url=broker_url,
        redis_url="",
        smtp_url="",
        secret_key=TEST_SECRET,
        _env_file=None,
    )
