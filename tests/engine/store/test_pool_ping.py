"""Pooled PostgreSQL connections: checked after an idle spell, not on every checkout.

The server really drops the connection here (``pg_terminate_backend``), as it does on a
restart or an idle timeout.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, exc, text

from engine.store.db import make_engine
from tests.conftest import BACKENDS, POSTGRES_URL


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def _terminate(pid: int) -> None:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


@pytest.fixture
def postgres_up():
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among NURTURE_TEST_DATABASES")
    try:
        _backend_pid(create_engine(POSTGRES_URL))
    except exc.OperationalError:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}")


def test_a_connection_dropped_while_idle_is_replaced_before_use(postgres_up):
    engine = make_engine(POSTGRES_URL, pool_size=1, idle_ping_after=0.0)
    try:
        first = _backend_pid(engine)
        _terminate(first)
        second = _backend_pid(engine)  # no error: the ping found it dead, the pool reconnected
        assert second != first
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged_and_a_drop_fails_once(postgres_up):
    engine = make_engine(POSTGRES_URL, pool_size=1, idle_ping_after=3600.0)
    try:
        first = _backend_pid(engine)
        _terminate(first)
        with pytest.raises(exc.OperationalError):  # used at once: no ping hid the drop
            _backend_pid(engine)
        assert _backend_pid(engine) != first  # the pool was invalidated: the next use works
    finally:
        engine.dispose()
