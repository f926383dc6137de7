"""Test support for outgoing calls: a real loopback HTTP receiver, settings and rows."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.settings import Settings
from engine.store.models import Contact, OutboxMessage, User
from tests.conftest import TEST_SECRET


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers each request with the next scripted ``(status, body, delay_seconds)``; then 200.

    An answer scripted for a ``path`` is given only to a request for that path, so calls
    made concurrently to different paths cannot take each other's answers.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script: deque[tuple[int, bytes, float]] = deque()
        self._by_path: dict[str, deque[tuple[int, bytes, float]]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.command, self.path, dict(self.headers.items()), body)
                    )
                    scripted = receiver._by_path.get(self.path) or receiver._script
                    status, answer, delay = scripted.popleft() if scripted else (200, b"{}", 0.0)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: that is what a timeout test wants

            # http.server dispatches on these names.
            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The receiver's base URL."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(
        self, status: int, body: bytes = b"{}", *, delay: float = 0.0, path: str | None = None
    ) -> None:
        """Queue the answer to the next request (for ``path`` only, when given)."""
        with self._lock:
            queue = self._script if path is None else self._by_path.setdefault(path, deque())
            queue.append((status, body, delay))

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback receiver, stopped after the test."""
    with Receiver() as running:
        yield running


@pytest.fixture
def open_settings(tmp_path: Path, migrated_url: str) -> Settings:
    """Settings that let webhooks reach the loopback receiver (and nothing else is special)."""
    return make_settings(tmp_path, migrated_url, webhook_allow_private=True)


def make_settings(tmp_path: Path, database_url: str, **extra: Any) -> Settings:
    """Settings for a test, every service named explicitly (no env var leaks in)."""
    fields: dict[str, Any] = {
        "var_dir": tmp_path / "var",
        "database_url": database_url,
        "broker_url": "",
        "redis_url": "",
        "smtp_url": "",
        "secret_key": TEST_SECRET,
        "public_url": "https://nurture.example.jp",
        **extra,
    }
    return Settings(_env_file=None, **fields)


def add_contact(session: Session, email: str, *, now: datetime, **fields: Any) -> Contact:
    """Insert a contact (Japanese names by default) and return it."""
    contact = Contact(
        email=email,
        last_name=fields.pop("last_name", "山田"),
        first_name=fields.pop("first_name", "太郎"),
        attributes=fields.pop("attributes", {}),
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(contact)
    session.flush()
    return contact


def add_user(
    session: Session, email: str, role: str, *, now: datetime, active: bool = True, **names: str
) -> User:
    """Insert a user (no password needed to be notified) and return it."""
    user = User(
        email=email,
        role=role,
        password_hash="-",
        family_name=names.get("family_name"),
        given_name=names.get("given_name"),
        is_active=active,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def outbox_rows(session: Session, topic: str) -> list[OutboxMessage]:
    """Return the outbox rows of ``topic``, oldest first."""
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.id)
        )
    )
