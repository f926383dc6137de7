"""A segment over many contacts and events on PostgreSQL, against hand-written SQL.

The segment is the issue's rule: an attribute (``plan = pro``), an event count in a window
(three or more ``page_view`` in 30 days) and human email engagement (a click in 14 days).
Nurture's figure is its compiled condition evaluated over every contact, the query a full
reconcile runs; the baseline is the fastest of several hand-written queries for the same
rule (EXISTS, a GROUP BY join, IN sets), each run on the same data with the same indexes.
A second figure is the incremental re-check after one contact's event
(``refresh_contacts``, which also writes the membership and its event) against the
hand-written rule for that one contact.

Data is generated in SQL (``generate_series``); scale with ``NURTURE_BENCH_CONTACTS`` and
``NURTURE_BENCH_EVENTS`` (full scale: 1,000,000 and 10,000,000). Needs PostgreSQL:
``python -m bench segments --database-url postgresql://postgres@127.0.0.1:5432/postgres``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Connection, Engine, Select, insert, select, text

from bench.runner import Context, Figure, console, median
from engine.clock import utcnow
from engine.journey.conditions import Condition
from engine.segments.definitions import sync_segments
from engine.segments.membership import refresh_contacts
from engine.segments.sql import condition_sql
from engine.store.db import Database
from engine.store.models import Contact, Event

CONTACTS = int(os.environ.get("NURTURE_BENCH_CONTACTS", "50000"))
EVENTS = int(os.environ.get("NURTURE_BENCH_EVENTS", str(CONTACTS * 10)))
#: Contacts sent a mail, mails clicked, and clicks made by link scanners (not human).
MAIL_SHARE, CLICK_SHARE, BOT_SHARE = 0.2, 0.35, 0.25
RULE = {
    "all": [
        {"attr": "plan", "eq": "pro"},
        {"event": "page_view", "within": "30d", "count": {"gte": 3}},
        {"email": "clicked", "within": "14d"},
    ]
}
CONDITION: Condition = TypeAdapter(Condition).validate_python(RULE)
SEGMENT_YAML = """\
id: engaged_pro
name: 活発なプロプラン
condition:
  all:
    - {attr: plan, eq: pro}
    - {event: page_view, within: 30d, count: {gte: 3}}
    - {email: clicked, within: 14d}
"""

HAND_WRITTEN = {
    "EXISTS + COUNT subquery": """
SELECT c.id FROM contacts c
WHERE c.attributes ->> 'plan' = 'pro'
  AND (SELECT count(*) FROM events e WHERE e.contact_id = c.id AND e.type = 'page_view'
       AND e.occurred_at >= :since30 AND e.occurred_at <= :now) >= 3
  AND EXISTS (
  SELECT 1 FROM tracking_events t JOIN messages m ON m.id = t.message_id
  WHERE t.contact_id = c.id AND t.kind = 'click' AND t.classification = 'human'
    AND t.occurred_at >= :since14 AND t.occurred_at <= :now)""",
    "GROUP BY join": """
SELECT c.id FROM contacts c
JOIN (SELECT contact_id FROM events WHERE type = 'page_view'
        AND occurred_at >= :since30 AND occurred_at <= :now
      GROUP BY contact_id HAVING count(*) >= 3) e ON e.contact_id = c.id
WHERE c.attributes ->> 'plan' = 'pro' AND EXISTS (
  SELECT 1 FROM tracking_events t JOIN messages m ON m.id = t.message_id
  WHERE t.contact_id = c.id AND t.kind = 'click' AND t.classification = 'human'
    AND t.occurred_at >= :since14 AND t.occurred_at <= :now)""",
    "IN sets": """
SELECT c.id FROM contacts c
WHERE c.attributes ->> 'plan' = 'pro'
  AND c.id IN (SELECT contact_id FROM events WHERE type = 'page_view'
               AND occurred_at >= :since30 AND occurred_at <= :now
               GROUP BY contact_id HAVING count(*) >= 3)
  AND c.id IN (SELECT t.contact_id FROM tracking_events t JOIN messages m ON m.id = t.message_id
               WHERE t.kind = 'click' AND t.classification = 'human'
                 AND t.occurred_at >= :since14 AND t.occurred_at <= :now)""",
}
#: Indexes a hand-tuner would try beyond the schema's (which has events by contact, type and
#: time since migration 0014); every query is timed without and with them.
EXTRA_INDEXES = (
    "CREATE INDEX bench_events_type_contact ON events (type, occurred_at, contact_id)",
    "CREATE INDEX bench_contacts_plan ON contacts ((attributes ->> 'plan'))",
)


def seed(connection: Connection, now: datetime) -> None:
    """Generate contacts, events, mail and clicks in SQL (seeded random), then ANALYZE."""
    params = {"now": now, "contacts": CONTACTS, "events": EVENTS}
    connection.execute(text("SELECT setseed(0.42)"))
    connection.execute(
        text("""
INSERT INTO contacts (email, attributes, lifecycle_stage, score, created_at, updated_at)
SELECT 'c' || g || '@example.jp',
       jsonb_build_object('plan', (ARRAY['free', 'pro', 'team'])[1 + floor(random() * 3)::int],
                          'company', '株式会社' || (g % 1000)),
       'lead', g % 100, :now, :now
FROM generate_series(1, :contacts) g"""),
        params,
    )
    connection.execute(
        text("""
INSERT INTO events (contact_id, type, properties, occurred_at, received_at, source)
SELECT c.first + floor(random() * :contacts)::bigint,
       (ARRAY['page_view', 'page_view', 'form_submitted', 'purchase'])[1 + floor(random() * 4)::int],
       '{}'::jsonb, :now - random() * interval '90 days', :now, 'bench'
FROM generate_series(1, :events) g, (SELECT min(id) AS first FROM contacts) c"""),
        params,
    )
    connection.execute(
        text("""
INSERT INTO messages (uid, message_id, idempotency_key, contact_id, template, status,
                      attempts, queued_at, sent_at)
SELECT 'u' || id, '<' || id || '@bench>', 'k' || id, id, 'newsletter', 'sent', 1, at, at
FROM (SELECT id, :now - random() * interval '30 days' AS at FROM contacts) c
WHERE random() < :mail"""),
        {**params, "mail": MAIL_SHARE},
    )
    connection.execute(
        text("""
INSERT INTO tracking_events (kind, message_id, contact_id, classification, occurred_at)
SELECT 'click', id, contact_id, CASE WHEN random() < :bots THEN 'bot' ELSE 'human' END,
       sent_at + interval '1 hour'
FROM messages WHERE random() < :click"""),
        {"click": CLICK_SHARE, "bots": BOT_SHARE},
    )
    connection.execute(text("ANALYZE"))


def timed(action: Callable[[], object]) -> float:
    """Run ``action`` once; return the seconds it took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(context: Context) -> list[Figure]:
    database = context.database()
    engine: Engine = database.engine
    if engine.dialect.name != "postgresql":
        database.dispose()
        console.print("  segments needs PostgreSQL (--database-url); skipped")
        return []
    now = utcnow()
    window = {"now": now, "since30": now - timedelta(days=30), "since14": now - timedelta(days=14)}
    try:
        with engine.begin() as connection:
            generated = timed(lambda: seed(connection, now))
        console.print(
            f"  generated {CONTACTS:,} contacts and {EVENTS:,} events in {generated:.1f} s"
        )
        compiled = select(Contact.id).where(condition_sql(CONDITION, now=now, dialect="postgresql"))
        with engine.connect() as connection:
            expected = set(connection.execute(compiled).scalars())
            timings = _timings(connection, compiled, window, expected, context.repeat)
        ours_name = min((k for k in timings if k.startswith("Nurture")), key=timings.__getitem__)
        best_name = min(
            (k for k in timings if not k.startswith("Nurture")), key=timings.__getitem__
        )
        ours, best = timings[ours_name], timings[best_name]
        console.print(
            f"  {len(expected):,} members; {ours_name} {ours:.3f} s, best hand-written "
            f"({best_name}) {best:.3f} s"
        )
        recheck, recheck_bare = _recheck(database, context.folder, now, window, context.repeat)
    finally:
        database.dispose()
    return [
        Figure(
            "segments",
            f"full evaluation over {CONTACTS:,} contacts / {EVENTS:,} events ({ours_name})",
            "evaluations/s",
            1 / ours,
            f"best hand-written SQL: {best_name}",
            1 / best,
            context.repeat,
        ),
        Figure(
            "segments",
            "re-check of one contact after an event (refresh_contacts)",
            "re-checks/s",
            1 / recheck,
            "hand-written INSERT … SELECT and DELETE for that contact",
            1 / recheck_bare,
            context.repeat,
        ),
    ]


def _timings(
    connection: Connection,
    compiled: Select[int],
    window: dict[str, datetime],
    expected: set[int],
    repeat: int,
) -> dict[str, float]:
    """Time the compiled query and each hand-written form, without and with the extra indexes.

    Every hand-written form must find the compiled query's members, or the run stops.
    """
    results: dict[str, float] = {}
    for indexed in (False, True):
        if indexed:
            for statement in EXTRA_INDEXES:
                connection.execute(text(statement))
            connection.execute(text("ANALYZE events, contacts"))
            connection.commit()
        suffix = " + indexes" if indexed else ""
        queries: dict[str, Any] = {"Nurture (compiled)": compiled}
        queries.update({name: text(sql) for name, sql in HAND_WRITTEN.items()})
        for name, query in queries.items():
            found = set(connection.execute(query, window).scalars())
            if found != expected:
                raise AssertionError(f"hand-written '{name}' disagrees with the compiled SQL")
            results[name + suffix] = median(
                [
                    timed(lambda q=query: connection.execute(q, window).all())  # type: ignore[misc]
                    for _ in range(repeat)
                ]
            )
            console.print(f"    {name + suffix}: {results[name + suffix]:.3f} s")
    for statement in EXTRA_INDEXES:
        connection.execute(text(f"DROP INDEX {statement.split()[2]}"))
    connection.commit()
    return results


def _recheck(
    database: Database, folder: Path, now: datetime, window: dict[str, datetime], repeat: int
) -> tuple[float, float]:
    """Time ``refresh_contacts`` for one member after a new event, and the bare rule for it."""
    segments = folder / "segments"
    segments.mkdir(exist_ok=True)
    (segments / "engaged_pro.yaml").write_text(SEGMENT_YAML, encoding="utf-8")
    with database.unit_of_work() as session:
        report = sync_segments(session, segments, now=now)
        if not report.ok:
            raise AssertionError(f"benchmark segment refused: {report.diagnostics}")
        member = session.scalar(
            select(Contact.id)
            .where(condition_sql(CONDITION, now=now, dialect="postgresql"))
            .order_by(Contact.id)
            .limit(1)
        )
    if member is None:
        raise AssertionError("no contact matches the benchmark segment; raise the scale")
    ours, bare = [], []
    rule = HAND_WRITTEN["EXISTS + COUNT subquery"] + " AND c.id = :id"
    enter = text(
        "INSERT INTO segment_memberships (segment_id, contact_id, entered_at) "  # noqa: S608
        "SELECT 'engaged_pro', id, :now FROM (" + rule + ") m "
        "ON CONFLICT DO NOTHING RETURNING contact_id"
    )
    leave = text(
        "DELETE FROM segment_memberships WHERE segment_id = 'engaged_pro' AND contact_id = :id "  # noqa: S608
        "AND contact_id NOT IN (" + rule + ") RETURNING contact_id"
    )
    for n in range(repeat):
        moment = now + timedelta(seconds=n + 1)
        with database.unit_of_work() as session:
            session.execute(
                insert(Event).values(
                    contact_id=member,
                    type="page_view",
                    properties={"path": "/料金"},
                    occurred_at=moment,
                    received_at=moment,
                    source="bench",
                )
            )
            ours.append(timed(lambda m=moment: refresh_contacts(session, [member], now=m)))  # type: ignore[misc]
        params = {**window, "id": member}

        def by_hand(p: dict[str, object] = params) -> None:
            with database.engine.begin() as connection:
                connection.execute(enter, p).all()
                connection.execute(leave, p).all()

        bare.append(timed(by_hand))
    return median(ours), median(bare)
