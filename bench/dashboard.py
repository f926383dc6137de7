"""The delivery dashboard's server time against the raw SQL aggregation it replaces.

Plants ``NURTURE_BENCH_DASHBOARD_MESSAGES`` messages (default 1,000,000 on PostgreSQL,
100,000 on SQLite) over 30 days with about one open per two messages and one click per
ten, builds the rollups once (reported,
not compared), then times ``GET /admin/?range=30d`` through the ASGI app as a signed-in
marketer: the on-demand catch-up of the current hour plus every table read from the
rollups. The baseline computes the same totals and the per-domain table straight from the
raw rows (one ``count(*)`` per metric, one ``GROUP BY`` per metric for domains), as a
dashboard without rollups would. Both are milliseconds per page, lower is better; the goal
is under 500 ms at a million messages on PostgreSQL.

    python -m bench dashboard --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import os
import random
import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from admin.app import create_app
from bench.runner import Context, Figure, console, median
from engine.auth.users import create_user
from engine.clock import utcnow
from engine.settings import Settings
from engine.stats.metrics import SOURCES, Window
from engine.stats.rollups import catch_up
from engine.store.db import Database
from engine.store.models import Message, TrackingEvent


def messages_for(dialect: str) -> int:
    """How many messages to plant: the env var, else a million on PostgreSQL, 100,000 on SQLite."""
    default = "1000000" if dialect == "postgresql" else "100000"
    return int(os.environ.get("NURTURE_BENCH_DASHBOARD_MESSAGES", default))


BATCH = 10_000
SPAN = timedelta(days=30)
DOMAINS = ["example.jp", "gmail.com", "yahoo.co.jp", "docomo.ne.jp", "outlook.com"]
TEMPLATES = ["ようこそ", "セミナー案内", "資料送付", "newsletter"]
PASSWORD = "bench-password-123"  # noqa: S105 - a scratch user in a scratch database


def plant(database: Database, count: int) -> None:
    """Insert ``count`` messages and their opens and clicks in batches."""
    rng = random.Random(7)
    now = utcnow()
    next_id = 1
    for start in range(0, count, BATCH):
        messages: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for n in range(start, min(start + BATCH, count)):
            sent_at = now - SPAN * rng.random()
            bounced = rng.random() < 0.01
            messages.append(
                {
                    "id": next_id,
                    "uid": f"b{n:010d}",
                    "message_id": f"<{n}@bench>",
                    "idempotency_key": f"bench-{n}",
                    "to_address": f"u{n}@{DOMAINS[n % len(DOMAINS)]}",
                    "journey_id": f"journey-{n % 7}",
                    "broadcast_id": None if n % 3 else f"campaign-{n % 5}",
                    "template": TEMPLATES[n % len(TEMPLATES)],
                    "variant": "ab"[n % 2],
                    "status": "bounced" if bounced else "sent",
                    "attempts": 1,
                    "smtp_code": "550" if bounced else "250",
                    "queued_at": sent_at - timedelta(seconds=5),
                    "sent_at": sent_at,
                    "bounced_at": sent_at + timedelta(minutes=1) if bounced else None,
                }
            )
            if rng.random() < 0.5:
                human = rng.random() < 0.7
                events.append(_event(next_id, "open", human, sent_at + timedelta(hours=1)))
                if rng.random() < 0.2:
                    events.append(_event(next_id, "click", human, sent_at + timedelta(hours=2)))
            next_id += 1
        with database.unit_of_work() as session:
            session.execute(insert(Message), messages)
            session.execute(insert(TrackingEvent), events)


def _event(message_id: int, kind: str, human: bool, at: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "message_id": message_id,
        "classification": "human" if human else "machine",
        "occurred_at": at,
        "user_agent": "Mozilla/5.0",
    }


def raw_aggregation(session: Session, window: Window) -> dict[str, Any]:
    """Totals and the per-domain table straight from the raw rows (the baseline)."""
    dialect = session.get_bind().dialect.name
    figures: dict[str, Any] = {}
    for metric, source in SOURCES.items():
        rows = source(dialect, window).subquery()
        figures[metric] = session.scalar(select(func.count()).select_from(rows))
        figures[f"{metric}_by_domain"] = session.execute(
            select(rows.c.domain, func.count()).group_by(rows.c.domain)
        ).all()
    return figures


def run(context: Context) -> list[Figure]:
    database = context.database()
    count = messages_for(database.dialect)
    try:
        started = time.perf_counter()
        plant(database, count)
        console.print(f"  planted {count:,} messages in {time.perf_counter() - started:.1f} s")
        with database.unit_of_work() as session:
            create_user(
                session, email="bench@example.jp", role="marketer", password=PASSWORD, now=utcnow()
            )
            started = time.perf_counter()
            catch_up(session, now=utcnow())
        console.print(f"  first rollup build: {time.perf_counter() - started:.1f} s")
        # Production tables have autovacuum's statistics; give the fresh ones theirs.
        if database.dialect == "postgresql":
            with database.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                connection.execute(text("ANALYZE"))
        settings = Settings(
            var_dir=context.folder / "var",
            database_url=context.database_url,
            secret_key="bench-secret-" + "x" * 40,
            _env_file=None,
        )
        page_ms, raw_ms = [], []
        with TestClient(create_app(settings, database), follow_redirects=False) as client:
            form = client.get("/admin/login").text
            token = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            client.post(
                "/admin/login",
                data={"email": "bench@example.jp", "password": PASSWORD, "csrf": token},
            )
            for _ in range(context.repeat):
                started = time.perf_counter()
                response = client.get("/admin/?range=30d")
                page_ms.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code
                now = utcnow()
                started = time.perf_counter()
                with database.sessions() as session:
                    raw_aggregation(session, Window(now - SPAN, now))
                raw_ms.append((time.perf_counter() - started) * 1000)
    finally:
        database.dispose()
    return [
        Figure(
            "dashboard",
            f"GET /admin/ over {count:,} messages, 30 days (ms, lower is better)",
            "ms",
            median(page_ms),
            "raw SQL aggregation",
            median(raw_ms),
            context.repeat,
        )
    ]
