"""Event ingestion through the HTTP API, vs a bare Core INSERT of the same rows into ``events``.

A real uvicorn server runs in its own process on a free 127.0.0.1 port; httpx posts batches
of 1,000 events, one request at a time, for 1,000 known contacts. The baseline inserts the
same rows (contact ids already resolved) with one transaction per batch, as the API commits
once per request. The ratio is what HTTP, JSON, validation and idempotency cost.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from bench.runner import Context, Figure, median, rate
from engine.auth.apikeys import create_api_key
from engine.clock import utcnow
from engine.store.models import Base, Contact

BATCH = 1_000
BATCHES = 20
CONTACTS = 1_000
SECRET = "bench-secret-" + "x" * 40


def app() -> Any:
    """The ASGI app for ``uvicorn --factory``, configured from NURTURE_* variables."""
    from admin.app import create_app
    from engine.settings import Settings
    from engine.store.db import Database

    settings = Settings()
    return create_app(settings, Database.from_settings(settings))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def batches(run_number: int) -> list[list[dict[str, Any]]]:
    start = utcnow() - timedelta(hours=1)
    return [
        [
            {
                "type": "page_viewed",
                "email": f"visitor{(b * BATCH + i) % CONTACTS}@example.co.jp",
                "properties": {"url": f"/products/{i % 50}", "title": "製品紹介"},
                "occurred_at": (start + timedelta(milliseconds=b * BATCH + i)).isoformat(),
                "idempotency_key": f"r{run_number}-b{b}-e{i}",
            }
            for i in range(BATCH)
        ]
        for b in range(BATCHES)
    ]


def seed(engine: Engine) -> tuple[str, dict[str, int]]:
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            insert(Base.metadata.tables["contacts"]),
            [
                {
                    "email": f"visitor{i}@example.co.jp",
                    "attributes": {},
                    "lifecycle_stage": "subscriber",
                    "score": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(CONTACTS)
            ],
        )
        ids = dict(connection.execute(select(Contact.email, Contact.id)).all())
    with Session(engine) as session:
        key = create_api_key(session, name="bench", scopes=["ingest"], now=now)
        session.commit()
    return key, ids


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(NURTURE_DATABASE_URL=url, NURTURE_SECRET_KEY=SECRET, NURTURE_LOG_LEVEL="WARNING")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench.ingest_api:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the API server did not start within 30 s")


def post_all(client: httpx.Client, key: str, payload: list[list[dict[str, Any]]]) -> None:
    for body in payload:
        response = client.post("/api/events", json=body, headers={"Authorization": f"Bearer {key}"})
        response.raise_for_status()


def bare_insert(engine: Engine, ids: dict[str, int], payload: list[list[dict[str, Any]]]) -> None:
    now = utcnow()
    for body in payload:
        rows = [
            {
                "contact_id": ids[e["email"]],
                "type": e["type"],
                "properties": e["properties"],
                "occurred_at": datetime.fromisoformat(e["occurred_at"]),
                "received_at": now,
                "source": "api",
                "idempotency_key": e["idempotency_key"],
            }
            for e in body
        ]
        with engine.begin() as connection:
            connection.execute(insert(Base.metadata.tables["events"]), rows)


def run(context: Context) -> list[Figure]:
    database = context.database()
    key, ids = seed(database.engine)
    port = free_port()
    server = start_server(context.database_url, port)
    api, bare = [], []
    count = BATCH * BATCHES
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            post_all(client, key, batches(-1))  # warm-up: connections, caches, first compiles
            for number in range(context.repeat):
                with database.engine.begin() as connection:
                    connection.execute(text("DELETE FROM events"))
                api.append(rate(count, partial(post_all, client, key, batches(number))))
                with database.engine.begin() as connection:
                    connection.execute(text("DELETE FROM events"))
                payload = batches(number)
                bare.append(rate(count, partial(bare_insert, database.engine, ids, payload)))
    finally:
        server.terminate()
        server.wait(timeout=30)
        database.dispose()
    return [
        Figure(
            "ingest_api",
            f"POST /api/events, {BATCHES} × {BATCH:,} events",
            "events/s",
            median(api),
            "Core INSERT",
            median(bare),
            context.repeat,
        )
    ]
