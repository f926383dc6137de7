"""Shared fixtures: a migrated database on each backend, settings, and an HTTP client.

Every test that takes ``database`` runs once per backend in ``NURTURE_TEST_DATABASES``
(default ``sqlite,postgresql``). PostgreSQL tests use a fresh database created for the run
on the server named by ``NURTURE_TEST_POSTGRES_URL`` and dropped afterwards; if that server
is down the tests fail rather than skip, so a green run always covered both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.settings import Settings
from engine.store.db import Database
from engine.store.migrate import upgrade
from engine.store.models import Base

BACKENDS = [
    b.strip()
    for b in os.environ.get("NURTURE_TEST_DATABASES", "sqlite,postgresql").split(",")
    if b.strip()
]
POSTGRES_URL = os.environ.get(
    "NURTURE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEST_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database URL at the newest migration, one per backend for the whole run."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'nurture.db'}"
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    if request.param != "postgresql":
        raise ValueError(f"unknown backend {request.param!r} in NURTURE_TEST_DATABASES")
    with fresh_postgres_database("nurture_test") as url:
        yield url


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """Create a migrated PostgreSQL database of its own, and drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database(migrated_url: str) -> Iterator[Database]:
    """The migrated database, emptied after the test."""
    db = Database(migrated_url, pool_size=5)
    try:
        yield db
    finally:
        _empty(db)
        db.dispose()


def _empty(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if db.dialect == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def settings(tmp_path: Path, migrated_url: str) -> Settings:
    """Settings pointing at the test database, with a throwaway var folder."""
    return Settings(
        var_dir=tmp_path / "var",
        database_url=migrated_url,
        secret_key=TEST_SECRET,
        public_url="http://127.0.0.1:8000",
        _env_file=None,
    )
