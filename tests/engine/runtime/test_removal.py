"""Taking contacts out of a journey by hand, on the real database (both backends)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from engine.errors import NotFound
from engine.runtime.advance import advance
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.removal import remove_contacts
from engine.store.models import Enrollment, Message
from tests.engine.runtime.test_advance import DEMO_REQUEST, NOW, enroll, lead, publish

JOURNEY = "b2b-lead-nurture"


def statuses(database) -> dict[tuple[int, str], tuple[str, str | None]]:
    with database.sessions() as session:
        rows = session.execute(
            select(Enrollment.contact_id, Enrollment.key, Enrollment.status, Enrollment.exit_reason)
        )
        return {(c, k): (s, r) for c, k, s, r in rows}


def test_one_enrollment_or_all_of_a_contacts_end_and_others_stay(database):
    with database.unit_of_work() as session:
        publish(session, JOURNEY)
        kimura = lead(session, "kimura@example.jp", "木村", "拓也")
        ito = lead(session, "ito@example.jp", "伊藤", "美咲")
        first = enroll(session, JOURNEY, kimura, DEMO_REQUEST)
        first.key = "見積-1"
        second = enroll(session, JOURNEY, kimura, DEMO_REQUEST)
        second.key = "見積-2"
        enroll(session, JOURNEY, ito, DEMO_REQUEST)
        kimura_id, ito_id, first_id = kimura.id, ito.id, first.id

    with database.unit_of_work() as session:
        ended = remove_contacts(session, JOURNEY, [kimura_id], now=NOW, enrollment_id=first_id)
    assert ended == [kimura_id]
    assert statuses(database) == {
        (kimura_id, "見積-1"): ("exited", "removed"),
        (kimura_id, "見積-2"): ("active", None),
        (ito_id, ""): ("active", None),
    }
    with database.unit_of_work() as session:
        assert remove_contacts(session, JOURNEY, [ito_id, kimura_id], now=NOW) == [
            kimura_id,
            ito_id,
        ]
    assert {s for s, _ in statuses(database).values()} == {"exited"}
    with database.unit_of_work() as session:
        assert remove_contacts(session, JOURNEY, [kimura_id], now=NOW) == []
        assert remove_contacts(session, JOURNEY, [], now=NOW) == []
        with pytest.raises(NotFound, match="no-such-journey"):
            remove_contacts(session, "no-such-journey", [kimura_id], now=NOW)


def test_a_removal_waits_for_the_step_in_progress_and_ends_what_it_left(database):
    if database.dialect != "postgresql":
        pytest.skip("SQLite has one writer: a removal cannot overlap a step")
    with database.unit_of_work() as session:
        publish(session, JOURNEY)
        contact = lead(session, "taro.yamada@example.jp", "山田", "太郎", zone="America/New_York")
        enrollment_id = enroll(session, JOURNEY, contact, DEMO_REQUEST).id
        contact_id = contact.id
    done: list[list[int]] = []

    def take_out() -> None:
        with database.unit_of_work() as other:
            done.append(remove_contacts(other, JOURNEY, [contact_id], now=NOW))

    remover = threading.Thread(target=take_out)
    with database.unit_of_work() as session:  # a worker's batch, not yet committed
        result = advance(
            session, [enrollment_id], now=NOW, journeys=CompiledJourneys(), message_domain="x.jp"
        )
        assert result.stepped == 1
        remover.start()
        time.sleep(0.5)
        assert remover.is_alive() and done == []  # held by the step's row lock
    remover.join(timeout=10)
    assert done == [[contact_id]]
    with database.sessions() as session:
        row = session.get(Enrollment, enrollment_id)
        assert row is not None
        assert (row.status, row.exit_reason, row.step, row.wake_at) == (
            "exited",
            "removed",
            "wait_2d",  # where the step had taken it
            None,
        )
        assert session.scalar(select(func.count()).select_from(Message)) == 1  # already queued
