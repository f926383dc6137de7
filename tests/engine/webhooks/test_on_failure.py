"""A journey webhook that dies sends a live enrollment down its ``on_failure`` path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from engine.journey import EnrollmentState
from engine.runtime import outbox
from engine.runtime.advance import advance
from engine.runtime.enroll import enroll_contacts
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.topics import CALL_WEBHOOK
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import ContactTag, Enrollment, OutboxMessage, StepRun
from engine.webhooks import service
from tests.engine.webhooks.support import Receiver, add_contact, outbox_rows
from tests.publishing import publish_source as publish

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)

JOURNEY = """\
dsl: journey/v1
id: crm-sync
name: CRM 連携
version: 1
triggers:
  - event: signed_up
entry: {{reentry: never}}
start: push
steps:
  push:
    type: webhook
    url: "{url}/leads"
    body: {{event: signed_up, 会社: 山田商事}}
    timeout: 2s
    on_failure: apologise
    next: wait_3d
  wait_3d: {{type: wait, duration: 3d, next: done}}
  apologise: {{type: tag, add: [crm-sync-failed], next: done}}
  done: {{type: exit, reason: synced}}
"""


def start(database: Database, receiver: Receiver, journeys: CompiledJourneys) -> int:
    """Enroll 山田 太郎 and step him into the webhook; return the enrollment's id."""
    with database.unit_of_work() as session:
        journey = publish(session, JOURNEY.format(url=receiver.url), now=NOW)
        contact = add_contact(session, "taro.yamada@example.jp", now=NOW)
        enroll_contacts(session, journey, [contact.id], now=NOW, journeys=journeys)
        enrollment_id = session.scalar(select(Enrollment.id))
        advance(session, [enrollment_id], now=NOW, journeys=journeys, message_domain="example.jp")
    return enrollment_id


def consume(database: Database, settings: Settings, now: datetime) -> list[str | None]:
    """Do what the ``webhooks.call`` actor does with each pending outbox row."""
    with database.unit_of_work() as session:
        rows = [r for r in outbox_rows(session, CALL_WEBHOOK) if r.done_at is None]
        leased = []
        for row in rows:
            delivery_id = service.record_journey_call(session, row.payload, now=now)
            leased += service.claim(session, now=now, ids=[delivery_id])
            outbox.mark_done(session, row.id, now=now)
    return service.deliver(database, leased, settings=settings, clock=lambda: now)


def test_a_dead_webhook_moves_the_live_enrollment_to_on_failure_at_once(
    database: Database, open_settings: Settings, receiver: Receiver
):
    journeys = CompiledJourneys()
    enrollment_id = start(database, receiver, journeys)
    with database.sessions() as session:
        waiting = session.get(Enrollment, enrollment_id)
        assert (waiting.step, waiting.status) == ("wait_3d", "waiting")

    receiver.answer(410)
    failed_at = NOW + timedelta(seconds=2)
    assert consume(database, open_settings, failed_at) == ["dead"]

    with database.sessions() as session:
        moved = session.get(Enrollment, enrollment_id)
        state = EnrollmentState.from_json(moved.state)
        failure = session.scalars(
            select(StepRun).where(StepRun.step == "webhook_failed:push")
        ).one()
    assert (moved.step, moved.status, moved.wake_at, moved.waiting_on) == (
        "apologise",
        "active",
        failed_at,
        None,
    )
    assert (state.step, state.status, state.wake_at, state.waiting_on) == (
        "apologise",
        "active",
        None,
        None,
    )
    assert failure.status == "failed"
    assert failure.result["rerouted_to"] == "apologise"
    assert failure.result["error"].startswith("HTTP 410")

    with database.unit_of_work() as session:
        advance(
            session, [enrollment_id], now=failed_at, journeys=journeys, message_domain="example.jp"
        )
    with database.sessions() as session:
        done = session.get(Enrollment, enrollment_id)
        tags = set(session.scalars(select(ContactTag.tag)))
        entered = set(session.scalars(select(StepRun.step).where(StepRun.status == "done")))
    assert (done.status, done.exit_reason) == ("exited", "synced")
    assert tags == {"crm-sync-failed"}
    assert {"push", "wait_3d", "apologise", "done"} <= entered


def test_an_exited_enrollment_stays_where_it_is_but_the_failure_is_recorded(
    database: Database, open_settings: Settings, receiver: Receiver
):
    journeys = CompiledJourneys()
    enrollment_id = start(database, receiver, journeys)
    with database.unit_of_work() as session:
        session.execute(
            update(Enrollment)
            .where(Enrollment.id == enrollment_id)
            .values(status="exited", exit_reason="unsubscribed", wake_at=None)
        )
    receiver.answer(400)
    consume(database, open_settings, NOW)
    with database.sessions() as session:
        row = session.get(Enrollment, enrollment_id)
        failure = session.scalars(select(StepRun).where(StepRun.status == "failed")).one()
    assert (row.status, row.step, row.exit_reason) == ("exited", "wait_3d", "unsubscribed")
    assert failure.result["rerouted_to"] is None
    assert failure.result["enrollment_live"] is False


def test_a_redelivered_outbox_row_calls_once(
    database: Database, open_settings: Settings, receiver: Receiver
):
    journeys = CompiledJourneys()
    start(database, receiver, journeys)
    consume(database, open_settings, NOW)
    with database.unit_of_work() as session:  # the relay sends the row again (a lost ack)
        session.execute(update(OutboxMessage).values(done_at=None))
    assert consume(database, open_settings, NOW + timedelta(seconds=40)) == []
    assert len(receiver.requests) == 1
