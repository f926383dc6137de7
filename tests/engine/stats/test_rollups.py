"""Rollups equal the raw rows, whatever order events arrive in, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from engine.stats.metrics import Window, derive
from engine.stats.queries import Row, alarms, breakdown, totals
from engine.stats.rollups import catch_up, watermark
from engine.store.db import Database
from engine.store.models import DeliveryRollup, Message, TrackingEvent
from tests.engine.stats.factory import message, plant

T0 = datetime(2026, 4, 1, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo: days differ by zone
HOUR = timedelta(hours=1)


def _plant(database: Database) -> None:
    rows = [
        message(at=T0, to="山田@example.jp", template="ようこそ", variant="a"),
        message(at=T0, to="tanaka@EXAMPLE.jp", template="ようこそ", variant="b"),
        message(at=T0 + HOUR, to="x@gmail.com", journey=None, broadcast="spring"),
        message(at=T0, to="y@gmail.com", status="bounced", bounced_after=HOUR, smtp_code="550"),
        message(at=T0, to="z@gmail.com", status="bounced", bounced_after=HOUR, smtp_code="421"),
        message(at=T0, to="c@example.jp", status="complained", bounced_after=2 * HOUR),
        message(at=T0, to="d@slow.example", status="queued", smtp_code="421"),
        message(at=T0, to="f@example.jp", status="failed"),
        message(at=T0, to="q@example.jp", status="new-status"),
    ]
    events = [
        (0, "open", "machine", T0 + timedelta(seconds=1)),
        (0, "open", "human", T0 + timedelta(minutes=5)),
        (0, "open", "human", T0 + 2 * HOUR),
        (0, "click", "human", T0 + 2 * HOUR),
        (1, "open", "human", T0 + HOUR),
        (1, "click", "scanner", T0 + timedelta(seconds=2)),
        (1, "click", "scanner", T0 + timedelta(seconds=3)),
    ]
    with database.unit_of_work() as session:
        plant(session, rows, events, unsubscribes=[(1, T0 + 3 * HOUR)])


def test_rollups_equal_hand_counted_figures_and_tolerate_unknown_statuses(
    database: Database,
) -> None:
    _plant(database)
    now = T0 + 4 * HOUR
    with database.unit_of_work() as session:
        catch_up(session, now=now)
    window = Window(T0 - HOUR, now)
    with database.sessions() as session:
        total = totals(session, window)
        by_domain = {row.key: row.figures for row in breakdown(session, window, "domain")}
        by_day_tokyo = breakdown(session, window, "day", tz=ZoneInfo("Asia/Tokyo"))
        by_template = {row.key: row.figures for row in breakdown(session, window, "template")}
    assert total["sent"] == 7  # everything with a sent_at, the unknown status included
    assert (total["bounced_hard"], total["bounced_soft"], total["complained"]) == (1, 1, 1)
    assert total["delivered"] == 5
    assert (total["deferred"], total["failed"], total["unsubscribed"]) == (1, 1, 1)
    assert (total["opens_human"], total["opens_machine"]) == (3, 1)
    assert (total["unique_opens_human"], total["unique_opens_machine"]) == (2, 1)
    assert (total["clicks_machine"], total["unique_clicks_machine"]) == (2, 1)
    assert (total["clicks_human"], total["unique_clicks_human"]) == (1, 1)
    assert total["click_to_open"] == 0.5
    assert by_domain["example.jp"]["sent"] == 4 and by_domain["gmail.com"]["sent"] == 3
    assert by_template["ようこそ"]["unique_opens_human"] == 2
    # 14:30 UTC is 23:30 in Tokyo: the first hour is April 1st there, the rest April 2nd.
    assert [row.key for row in by_day_tokyo] == ["2026-04-01", "2026-04-02"]
    assert by_day_tokyo[0].figures["sent"] == 6 and by_day_tokyo[1].figures["sent"] == 1
    domains = [Row(key, value) for key, value in by_domain.items()]
    assert {alarm.kind for alarm in alarms(total, domains)} == {"bounce_rate", "complaint_rate"}


def test_catch_up_counts_late_events_and_is_idempotent(database: Database) -> None:
    _plant(database)
    now = T0 + 4 * HOUR
    with database.unit_of_work() as session:
        catch_up(session, now=now)
        first = session.scalar(select(func.count()).select_from(DeliveryRollup))
        catch_up(session, now=now)
        again = session.scalar(select(func.count()).select_from(DeliveryRollup))
        assert watermark(session) == now
    assert first == again
    # An open arrives later, timed before the watermark but inside the lookback.
    with database.unit_of_work() as session:
        sent_id = session.scalar(select(func.min(Message.id)).where(Message.variant == "b"))
        session.add(
            TrackingEvent(
                kind="click",
                message_id=sent_id,
                classification="human",
                occurred_at=now - timedelta(minutes=30),
            )
        )
    with database.unit_of_work() as session:
        catch_up(session, now=now + timedelta(minutes=5), lookback=timedelta(hours=2))
        total = totals(session, Window(T0 - HOUR, now + HOUR))
        raw = session.scalar(
            select(func.count()).where(
                TrackingEvent.kind == "click", TrackingEvent.classification == "human"
            )
        )
    assert total["clicks_human"] == raw == 2
    assert total["unique_clicks_human"] == 2


def test_derive_handles_nothing_sent() -> None:
    figures = derive({})
    assert figures["bounce_rate"] == 0.0 and figures["click_to_open"] == 0.0
    assert figures["delivered"] == 0
