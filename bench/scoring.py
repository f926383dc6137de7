"""Scoring 20,000 events (pricing views, demo requests, email clicks) for 2,000 contacts.

The baseline is one hand-written UPDATE that adds each event's points to its contact's score
(a CASE over the type, no caps, no reasons, no exactly-once claim): the floor for moving
scores in SQL. The ratio is what claiming each event once, caps, reasons (one
``score_changes`` row per award), grading and the MQL check cost on top.
Scale with ``NURTURE_BENCH_SCORING_EVENTS``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, text

from bench.runner import Context, Figure, median, rate
from engine.clock import utcnow
from engine.scoring.config import scoring_file
from engine.scoring.service import score_events
from engine.scoring.spec import load_scoring
from engine.store.models import Base

EVENTS = int(os.environ.get("NURTURE_BENCH_SCORING_EVENTS", "20000"))
CONTACTS = max(EVENTS // 10, 1)
BATCH = 500
KINDS = [
    ("page_view", {"path": "/pricing"}),
    ("form_submitted", {"form": "demo-request"}),
    ("email_clicked", {"url": "https://example.jp/"}),
    ("page_view", {"path": "/blog/経理DX"}),
]
BASELINE = """
UPDATE contacts SET score = score + COALESCE((
  SELECT SUM(CASE WHEN e.type = 'page_view' THEN 10 WHEN e.type = 'form_submitted' THEN 30
                  WHEN e.type = 'email_clicked' THEN 5 ELSE 0 END)
  FROM events e WHERE e.contact_id = contacts.id), 0)
"""
SPEC = load_scoring(
    scoring_file(Path(__file__).parents[1] / "journeys").read_text(encoding="utf-8")
).spec


def seed(engine: Engine) -> list[int]:
    now = utcnow()
    with engine.begin() as connection:
        for table in ("score_changes", "scored_events", "stage_changes", "handoffs", "events"):
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
        connection.execute(text("DELETE FROM outbox"))
        connection.execute(text("DELETE FROM contacts"))
        connection.execute(
            insert(Base.metadata.tables["contacts"]),
            [
                {
                    "email": f"lead{i}@example.co.jp",
                    "attributes": {"industry": "製造業", "employees": 50 + i},
                    "score": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(CONTACTS)
            ],
        )
        first = connection.execute(text("SELECT MIN(id) FROM contacts")).scalar_one()
        rows = [
            {
                "contact_id": first + i % CONTACTS,
                "type": KINDS[i % len(KINDS)][0],
                "properties": KINDS[i % len(KINDS)][1],
                "occurred_at": now + timedelta(seconds=i),
                "received_at": now,
                "source": "api",
            }
            for i in range(EVENTS)
        ]
        connection.execute(insert(Base.metadata.tables["events"]), rows)
        return list(connection.execute(text("SELECT id FROM events ORDER BY id")).scalars())


def run(context: Context) -> list[Figure]:
    assert SPEC is not None
    database = context.database()
    scored, bare = [], []
    try:
        for _ in range(context.repeat):
            ids = seed(database.engine)

            def score_all(ids: list[int] = ids) -> None:
                for start in range(0, len(ids), BATCH):
                    with database.unit_of_work() as session:
                        score_events(session, ids[start : start + BATCH], now=utcnow(), spec=SPEC)

            scored.append(rate(EVENTS, score_all))
            seed(database.engine)

            def baseline() -> None:
                with database.engine.begin() as connection:
                    connection.execute(text(BASELINE))

            bare.append(rate(EVENTS, baseline))
    finally:
        database.dispose()
    return [
        Figure(
            "scoring",
            f"{EVENTS:,} events scored for {CONTACTS:,} contacts",
            "events/s",
            median(scored),
            "one UPDATE … SUM(CASE type) over the events",
            median(bare),
            context.repeat,
        )
    ]
