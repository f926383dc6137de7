"""Database engine and sessions: one per process, tuned per dialect."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from engine.settings import Settings

#: Every byte as ``0`` if it is a digit, else a space: a run of digits becomes a run of zeros.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
#: Digits enough for an integer beyond 64 bits, which orjson would read as a float.
_LONG_DIGITS = b"0" * 19
#: A pooled connection idle longer than this is checked before it is handed out.
IDLE_PING_AFTER = 5.0


def make_engine(
    url: str, *, pool_size: int = 10, idle_ping_after: float = IDLE_PING_AFTER
) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout for concurrent use.

    PostgreSQL connections are pinged on checkout only after ``idle_ping_after`` seconds
    unused: a server restart or an idle timeout is caught before a request sees it, while a
    busy process (a worker between batches, the API under load) skips the extra round trip
    a ping on every checkout costs. A connection that breaks while in use invalidates the
    pool, as SQLAlchemy does on any disconnect, and its unit of work is retried by its caller.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            json_deserializer=load_json,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, json_deserializer=load_json
    )
    event.listen(engine, "checkout", partial(_ping_if_idle, idle_ping_after))
    event.listen(engine, "connect", _note_checkin)  # a new connection needs no ping
    event.listen(engine, "checkin", _note_checkin)
    return engine


def load_json(data: bytes | str) -> Any:
    """Parse a JSON column's value as read: orjson, unless it could lose digits.

    orjson parses a worker's state documents and contacts at several times the standard
    library's speed, but reads an integer beyond 64 bits as a float. A value holding a run
    of 19 or more digits anywhere (rare: long ids are usually strings) takes ``json.loads``,
    which keeps every digit; the check is two passes in C, a fraction of either parse.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _LONG_DIGITS not in raw.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # what orjson refuses (a lone surrogate in a ``json`` column) json.loads reads
    return json.loads(raw)


def _ping_if_idle(after: float, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    returned = record.info.get("checked_in_at")
    if returned is not None and time.monotonic() - returned < after:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as error:  # the pool drops this connection and opens another
        raise exc.DisconnectionError(str(error)) from error


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """Open the configured database (creating ``var/`` for the embedded SQLite file)."""
        if settings.embedded:
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.resolved_database_url)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """Yield a session that commits on success and rolls back on any error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
