"""The running system in one test process: API, relay, broker and a real dramatiq worker.

The in-process StubBroker (embedded mode) or a RedisBroker (production), chosen by the
settings' ``broker_url``; the runtime's clock is the real one plus ``offset``, which a test
moves on to make timers due.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import dramatiq
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admin.app import create_app
from engine.auth.apikeys import create_api_key
from engine.clock import utcnow
from engine.operations.heartbeat import ProcessIdentity
from engine.settings import Settings
from engine.store.db import Database
from workers import runtime
from workers.broker import build_broker
from workers.relay import relay


class Stack:
    """Start with the settings and database; ``close()`` when done."""

    def __init__(self, settings: Settings, database: Database, namespace: str) -> None:
        self.settings, self.database = settings, database
        self.offset = timedelta(0)
        self.broker = build_broker(settings, namespace=namespace)
        self.runtime = runtime.Runtime(
            settings=settings,
            database=database,
            process=ProcessIdentity("worker", "test-host", 1),
            clock=lambda: utcnow() + self.offset,
        )
        runtime.install(self.runtime)
        self.worker = dramatiq.Worker(self.broker, worker_threads=2, worker_timeout=100)
        self.worker.start()
        app = create_app(settings, database)
        app.state.relay = partial(relay, self.runtime)
        self.client = TestClient(app)

    def key(self, *scopes: str) -> dict[str, str]:
        """A new API key with these scopes, as an Authorization header."""
        with self.database.unit_of_work() as session:
            key = create_api_key(session, name=",".join(scopes), scopes=list(scopes), now=utcnow())
        return {"Authorization": f"Bearer {key}"}

    def drain(self, *queues: str) -> None:
        """Wait until these queues are empty and the worker is idle."""
        for queue in queues:
            self.broker.join(queue, timeout=20_000)
        self.worker.join()

    def count(self, model: Any, *where: Any) -> int:
        """Rows of ``model`` matching ``where``."""
        with self.database.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def close(self) -> None:
        """Stop the worker and the broker."""
        self.worker.stop(timeout=5_000)
        self.broker.close()
        runtime.uninstall()
