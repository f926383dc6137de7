"""The sweep's claim of due enrollments, on the real database (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert, text, update

from engine.runtime.sweep import claim_due
from engine.store.models import Contact, Enrollment, Journey, JourneyVersion
from engine.store.models.base import table_of

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def journey(session, journey_id: str, status: str = "active") -> None:
    session.add(
        Journey(
            id=journey_id,
            name=f"ジャーニー {journey_id}",
            status=status,
            active_version=1,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.add(
        JourneyVersion(
            journey_id=journey_id,
            version=1,
            source="",
            spec={},
            checksum="x",
            published_at=NOW,
            published_by="test",
        )
    )
    session.flush()


def due(session, journey_id: str, count: int, *, first: int = 0) -> None:
    """``count`` contacts enrolled in ``journey_id``, each waiting on a timer that is over."""
    contacts = [
        {
            "email": f"sweep{first + n}@example.jp",
            "last_name": "山田",
            "attributes": {},
            "lifecycle_stage": "lead",
            "score": 0,
            "created_at": NOW,
            "updated_at": NOW,
        }
        for n in range(count)
    ]
    ids = session.scalars(insert(table_of(Contact)).returning(table_of(Contact).c.id), contacts)
    rows = [
        {
            "journey_id": journey_id,
            "version": 1,
            "contact_id": contact_id,
            "key": "",
            "status": "waiting",
            "step": "pause",
            "wake_at": NOW - timedelta(minutes=n % 50),
            "entry": {},
            "state": {},
            "steps_taken": 1,
            "entered_at": NOW - timedelta(days=1),
            "updated_at": NOW,
        }
        for n, contact_id in enumerate(ids.all())
    ]
    session.execute(insert(table_of(Enrollment)), rows)


def test_due_enrollments_are_leased_earliest_first_and_once(database):
    with database.unit_of_work() as session:
        journey(session, "renewal")
        due(session, "renewal", 120)
    with database.unit_of_work() as session:
        first = claim_due(session, now=NOW, limit=100, owner="a")
    with database.unit_of_work() as session:
        second = claim_due(session, now=NOW, limit=100, owner="b")
        wakes = dict(session.execute(text("SELECT id, wake_at FROM enrollments")).all())
    assert len(first) == 100 and len(second) == 20
    assert not set(first) & set(second)
    assert max(wakes[i] for i in first) <= min(wakes[i] for i in second)
    with database.unit_of_work() as session:
        assert claim_due(session, now=NOW, limit=100, owner="c") == []  # leased
        assert len(claim_due(session, now=NOW + timedelta(minutes=2), limit=200, owner="c")) == 120


def test_a_paused_journey_keeps_its_due_enrollments_until_resumed(database):
    with database.unit_of_work() as session:
        journey(session, "welcome")
        journey(session, "trial", status="paused")
        due(session, "welcome", 3)
        due(session, "trial", 4, first=3)
    with database.unit_of_work() as session:
        claimed = claim_due(session, now=NOW, limit=100, owner="a")
        journeys = set(
            session.scalars(
                text("SELECT journey_id FROM enrollments WHERE id = ANY(:ids)").bindparams(
                    ids=claimed
                )
            )
            if session.get_bind().dialect.name == "postgresql"
            else [
                session.scalar(text("SELECT journey_id FROM enrollments WHERE id = :i"), {"i": i})
                for i in claimed
            ]
        )
    assert len(claimed) == 3 and journeys == {"welcome"}
    with database.unit_of_work() as session:
        session.execute(update(Journey).where(Journey.id == "trial").values(status="active"))
    with database.unit_of_work() as session:
        assert len(claim_due(session, now=NOW, limit=100, owner="a")) == 4


def test_a_burst_of_due_enrollments_is_claimed_through_the_due_index(database):
    """PostgreSQL must read the due index in order and stop at the limit, never sort them all.

    Every row is due and the statistics say so; the small journeys table was never analysed
    (autovacuum would not analyse a table of a few rows either). Joined as a subquery, it led
    the planner to scan and sort the whole due set for each batch of 500.
    """
    if database.dialect != "postgresql":
        pytest.skip("SQLite has no planner statistics to mislead")
    with database.unit_of_work() as session:
        journey(session, "burst")
        journey(session, "held", status="paused")
        due(session, "burst", 3000)
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE contacts, enrollments"))
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "SKIP LOCKED" in statement:
            seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", capture)
    try:
        with database.unit_of_work() as session:
            assert len(claim_due(session, now=NOW, limit=500, owner="a")) == 500
    finally:
        event.remove(database.engine, "before_cursor_execute", capture)
    [(statement, parameters)] = seen
    with database.engine.connect() as c:
        raw = c.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute("EXPLAIN " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ix_enrollments_due" in plan, plan
    assert "Sort" not in plan and "Seq Scan on enrollments" not in plan, plan
