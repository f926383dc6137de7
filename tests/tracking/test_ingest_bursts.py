"""Scanner bursts across ingest batches, and floods on one link, through the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from sqlalchemy import event, select

from engine.store.db import Database
from engine.store.models import Link, Message, TrackingEvent
from engine.tracking.ingest import store_mail_hits
from tests.engine.email.test_send import add_contact

SENT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
#: A person reading an hour later: outside every delivery-time window.
READ = SENT + timedelta(hours=1)
_ids = count(1)


def message(database: Database, links: int) -> str:
    contact_id = add_contact(database)  # 山田 太郎, through the contacts service
    with database.unit_of_work() as session:
        row = Message(
            uid="burstmessage0001",
            message_id="<burst@example.jp>",
            idempotency_key="burst",
            contact_id=contact_id,
            journey_id="seminar",
            step_id="invite",
            template="セミナー案内",
            status="sent",
            queued_at=SENT,
            sent_at=SENT,
        )
        session.add(row)
        session.flush()
        for position in range(1, links + 1):
            session.add(
                Link(message_id=row.id, position=position, url=f"https://example.jp/{position}")
            )
    return "burstmessage0001"


def click(uid: str, position: int, at: datetime) -> dict:
    return {
        "id": f"hit-{next(_ids)}",
        "kind": "click",
        "uid": uid,
        "position": position,
        "at": at.isoformat(),
        "ip": "203.0.113.7",
        "ua": "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0",
    }


def classes(database: Database) -> dict[str, str]:
    with database.sessions() as session:
        rows = session.execute(select(TrackingEvent.dedupe_key, TrackingEvent.classification))
        return {key: kind for key, kind in rows}


def test_a_burst_split_over_two_batches_reclasses_the_earlier_click(database):
    uid = message(database, links=3)
    first = click(uid, 1, READ)
    with database.unit_of_work() as session:
        store_mail_hits(session, [first], now=READ)
    assert classes(database) == {first["id"]: "human"}
    later = [
        click(uid, 2, READ + timedelta(milliseconds=400)),
        click(uid, 3, READ + timedelta(seconds=1)),
    ]
    with database.unit_of_work() as session:
        report = store_mail_hits(session, later, now=READ + timedelta(seconds=1))
    assert report.reclassified == 1
    assert set(classes(database).values()) == {"scanner"}


def test_a_flood_on_one_link_stays_human_without_reading_its_clicks_again(database):
    uid = message(database, links=3)
    read: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if "tracking_events.user_agent" in statement:
            read.append(statement)

    floods = [
        [click(uid, 1, READ + timedelta(milliseconds=10 * (100 * batch + n))) for n in range(100)]
        for batch in range(3)
    ]
    event.listen(database.engine, "before_cursor_execute", watch)
    try:
        for hits in floods:
            with database.unit_of_work() as session:
                store_mail_hits(session, hits, now=READ + timedelta(seconds=3))
    finally:
        event.remove(database.engine, "before_cursor_execute", watch)
    stored = classes(database)
    assert len(stored) == 300 and set(stored.values()) == {"human"}
    assert read == []  # one link can never make a burst: the earlier clicks were not loaded
