"""Journeys running for real: API → outbox → relay → broker → worker → enrollment → effects.

The in-process StubBroker with a real dramatiq Worker (embedded mode's setup) and a real
RedisBroker (production's) both run the same code path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.clock import utcnow
from engine.runtime import outbox
from engine.store.db import Database
from engine.store.models import (
    Contact,
    Enrollment,
    Event,
    Message,
    OutboxMessage,
)
from tests.publishing import publish_source
from tests.workers.conftest import REDIS_URL, make_settings
from tests.workers.stack import Stack
from workers import actors, jobs
from workers.relay import dispatches, relay

SIGNUP = """\
dsl: journey/v1
id: signup-welcome
name: サインアップ歓迎
version: 1
triggers:
  - event: signed_up
    where: {prop: plan, eq: pro}
entry: {reentry: never}
defaults: {send_email: {from: {name: Acme, email: hello@acme.io}}}
exit_when:
  - {event: account_closed}
  - {attr: lifecycle_stage, eq: customer}
  - {email: unsubscribed}
start: welcome
steps:
  welcome: {type: send_email, template: welcome, subject: "{{ contact.last_name }} 様、ようこそ", next: points}
  points: {type: score, adjust: 5, reason: signed up, next: wait_1d}
  wait_1d: {type: wait, duration: 1d, next: done}
  done: {type: exit, reason: welcomed}
"""


class Running(Stack):
    """The embedded or production setup, with an ingest key and a marketer's key."""

    def __init__(self, database: Database, tmp_path: Path, broker_url: str, namespace: str) -> None:
        settings = make_settings(tmp_path, database.url, broker_url=broker_url)
        super().__init__(settings, database, namespace)
        self.headers = self.key("ingest")
        self.marketer = self.key("marketer")

    def post(self, event: dict) -> None:
        response = self.client.post("/api/events", json=event, headers=self.headers)
        assert response.status_code == 202, response.text
        self.settle()

    def settle(self) -> None:
        self.drain(actors.JOURNEYS_QUEUE)


@pytest.fixture(params=["stub", "redis"])
def running(request, database: Database, tmp_path: Path, namespace: str) -> Iterator[Running]:
    now = utcnow()
    with database.unit_of_work() as session:
        publish_source(session, SIGNUP, now=now)
    setup = Running(database, tmp_path, REDIS_URL if request.param == "redis" else "", namespace)
    try:
        yield setup
    finally:
        setup.close()


SATO = {"email": "hanako.sato@example.jp"}


def test_an_event_enrolls_sends_and_scores_at_once(running: Running):
    running.client.post(
        "/api/contacts", json={**SATO, "last_name": "佐藤"}, headers=running.headers
    )
    running.post({"type": "signed_up", **SATO, "properties": {"plan": "pro"}})
    with running.database.sessions() as session:
        enrollment = session.scalars(select(Enrollment)).one()
        assert (enrollment.journey_id, enrollment.step, enrollment.status) == (
            "signup-welcome",
            "wait_1d",
            "waiting",
        )
        assert enrollment.entry_event_id == session.scalars(select(Event.id)).one()
        message = session.scalars(select(Message)).one()
        assert (message.template, message.subject, message.status) == (
            "welcome",
            "{{ contact.last_name }} 様、ようこそ",
            "queued",
        )
        assert session.scalars(select(Contact.score)).one() == 5
        assert session.scalars(
            select(OutboxMessage.done_at).where(OutboxMessage.topic == "events.route")
        ).one()


def test_where_and_reentry_refuse(running: Running):
    running.post({"type": "signed_up", **SATO, "properties": {"plan": "free"}})
    assert running.count(Enrollment) == 0
    running.post({"type": "signed_up", **SATO, "properties": {"plan": "pro"}})
    running.post({"type": "signed_up", **SATO, "properties": {"plan": "pro"}})
    assert running.count(Enrollment) == 1


def test_redelivered_routing_enrolls_once(running: Running):
    running.post({"type": "signed_up", **SATO, "properties": {"plan": "pro"}})
    with running.database.sessions() as session:
        event_ids = list(session.scalars(select(Event.id)))
    actors.route_events.send(event_ids)
    actors.route_events.send(event_ids)
    running.settle()
    assert running.count(Enrollment) == 1
    assert running.count(Message) == 1


def test_exit_event_wakes_the_enrollment_at_once(running: Running):
    running.post({"type": "signed_up", **SATO, "properties": {"plan": "pro"}})
    running.post({"type": "account_closed", **SATO})
    with running.database.sessions() as session:
        enrollment = session.scalars(select(Enrollment)).one()
        assert enrollment.status == "exited"
        assert enrollment.step == "wait_1d"  # left while waiting, not after the day had passed


CART = """\
dsl: journey/v1
id: cart-reminder
name: カゴ落ちフォロー
version: 1
triggers: [{event: cart_abandoned}]
start: wait_order
steps:
  wait_order:
    type: wait_for
    event: order_completed
    match: {prop: cart_id, eq: {ref: entry.properties.cart_id}}
    timeout: 4h
    on_event: bought
    on_timeout: gave_up
  bought: {type: exit, reason: 購入済み}
  gave_up: {type: exit, reason: 期限切れ}
"""


def test_a_wait_for_with_a_property_match_ends_on_the_matching_event_only(running: Running):
    with running.database.unit_of_work() as session:
        publish_source(session, CART, now=utcnow())
    running.post({"type": "cart_abandoned", **SATO, "properties": {"cart_id": "カート-1"}})

    def cart() -> tuple[str, str, str | None]:
        with running.database.sessions() as session:
            row = session.scalars(
                select(Enrollment).where(Enrollment.journey_id == "cart-reminder")
            ).one()
            return row.step, row.status, row.exit_reason

    running.post({"type": "order_completed", **SATO, "properties": {"cart_id": "カート-2"}})
    assert cart() == ("wait_order", "waiting", None)
    running.post({"type": "order_completed", **SATO, "properties": {"cart_id": "カート-1"}})
    assert cart() == ("bought", "exited", "購入済み")


def test_a_contacts_journeys_and_timeline_say_where_each_enrollment_stands(running: Running):
    with running.database.unit_of_work() as session:
        publish_source(session, CART, now=utcnow())
    email = SATO["email"]
    running.post({"type": "signed_up", **SATO, "properties": {"plan": "pro"}})
    running.post({"type": "cart_abandoned", **SATO, "properties": {"cart_id": "カート-1"}})

    def journeys() -> list[dict]:
        answer = running.client.get(f"/api/contacts/{email}/enrollments", headers=running.marketer)
        assert answer.status_code == 200, answer.text
        return answer.json()

    waiting = journeys()
    assert [(e["journey_id"], e["status"], e["step"]) for e in waiting] == [
        ("cart-reminder", "waiting", "wait_order"),  # newest entry first
        ("signup-welcome", "waiting", "wait_1d"),
    ]
    cart, signup = waiting
    assert (cart["journey_name"], cart["trigger"], cart["waiting_for"]) == (
        "カゴ落ちフォロー",
        "cart_abandoned",
        "order_completed",
    )
    assert cart["wake_at"] is not None and cart["exited_at"] is None  # the 4h timeout
    assert (signup["journey_name"], signup["waiting_for"]) == ("サインアップ歓迎", None)

    running.post({"type": "order_completed", **SATO, "properties": {"cart_id": "カート-1"}})
    ended = journeys()
    assert [(e["journey_id"], e["status"]) for e in ended] == [
        ("signup-welcome", "waiting"),  # live ones first
        ("cart-reminder", "exited"),
    ]
    assert (ended[1]["exit_reason"], ended[1]["wake_at"], ended[1]["waiting_for"]) == (
        "購入済み",
        None,
        None,
    )
    assert ended[1]["exited_at"] is not None

    timeline = running.client.get(
        f"/api/contacts/{email}/timeline",
        params={"kind": ["journey_entered", "journey_exited"]},
        headers=running.marketer,
    ).json()["items"]
    assert [(e["kind"], e["data"]["journey"]) for e in timeline] == [
        ("journey_exited", "cart-reminder"),
        ("journey_entered", "cart-reminder"),
        ("journey_entered", "signup-welcome"),
    ]
    assert timeline[0]["summary"] == "left journey カゴ落ちフォロー: 購入済み"  # its display name
    assert timeline[0]["data"]["journey_name"] == "カゴ落ちフォロー"
    assert timeline[2]["data"]["trigger"] == "signed_up"

    def passed(step: str) -> list[str]:
        answer = running.client.get(
            "/api/journeys/signup-welcome/enrollments",
            params={"visited": step, "status": "all"},
            headers=running.marketer,
        )
        assert answer.status_code == 200, answer.text
        return [e["email"] for e in answer.json()["items"]]

    assert passed("points") == [email]  # stepped through, now waiting further on
    assert passed("done") == []
    unknown = running.client.get(
        "/api/contacts/nobody@example.jp/enrollments", headers=running.marketer
    )
    assert unknown.status_code == 404


def test_the_sweep_finishes_due_timers(running: Running):
    running.post({"type": "signed_up", **SATO, "properties": {"plan": "pro"}})
    assert jobs.sweep(running.runtime) == 0  # the day has not passed
    running.offset = timedelta(days=1, minutes=1)
    assert jobs.sweep(running.runtime) == 1
    assert jobs.sweep(running.runtime) == 0  # leased: not dispatched twice
    running.settle()
    with running.database.sessions() as session:
        enrollment = session.scalars(select(Enrollment)).one()
        assert (enrollment.status, enrollment.exit_reason) == ("exited", "welcomed")
        assert enrollment.lease_until is None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("", {"lifecycle_stage": "customer"}),
        ("/consent", {"topic": "marketing_email", "granted": False, "source": "preference-center"}),
    ],
)
def test_a_contact_change_ends_the_enrollment_at_once(running: Running, path: str, body: dict):
    running.post({"type": "signed_up", **SATO, "properties": {"plan": "pro"}})
    url = f"/api/contacts/{SATO['email']}{path}"
    call = running.client.patch if not path else running.client.post
    assert call(url, json=body, headers=running.marketer).status_code == 200
    running.settle()
    with running.database.sessions() as session:
        enrollment = session.scalars(select(Enrollment)).one()
        assert (enrollment.status, enrollment.exit_reason) == ("exited", "exit_when")
        assert enrollment.step == "wait_1d"  # left while waiting, not after the day


def test_a_lost_routing_message_is_sent_again_after_its_lease(running: Running):
    running.worker.pause()
    response = running.client.post(
        "/api/events",
        json={"type": "signed_up", **SATO, "properties": {"plan": "pro"}},
        headers=running.headers,
    )
    assert response.status_code == 202
    running.broker.flush_all()  # the message is lost, as with a worker killed holding it
    running.worker.resume()
    assert relay(running.runtime) == 0  # leased: not sent again at once
    assert running.count(Enrollment) == 0
    running.offset = timedelta(seconds=31)
    assert relay(running.runtime) == 1
    running.settle()
    assert running.count(Enrollment) == 1
    with running.database.sessions() as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "events.route")
        ).one()
        assert row.done_at is not None
        assert row.attempts == 2
    running.offset = timedelta(minutes=10)
    relay(running.runtime)  # the welcome mail's email.send row may go now; routing is done
    with running.database.sessions() as session:
        attempts = session.scalar(
            select(OutboxMessage.attempts).where(OutboxMessage.topic == "events.route")
        )
    assert attempts == 2  # done: never sent again


def test_routing_rows_claimed_together_go_as_one_message(running: Running):
    """Under load the relay merges routing rows: one message, one transaction, all rows done."""
    running.worker.pause()
    for email in ("yamada.taro@example.jp", "suzuki.ichiro@example.jp", "takahashi.mei@example.jp"):
        response = running.client.post(
            "/api/events",
            json={"type": "signed_up", "email": email, "properties": {"plan": "pro"}},
            headers=running.headers,
        )
        assert response.status_code == 202
    running.broker.flush_all()  # the single messages are lost; the rows are not
    running.worker.resume()
    running.offset = timedelta(seconds=31)
    with running.database.sessions() as session:
        pending = outbox.claim(session, now=utcnow() + running.offset, topics=["events.route"])
        session.rollback()  # only looked at: the relay claims them below
    assert [rows for rows, _ in dispatches(pending)] == [pending]  # one message for all three
    assert relay(running.runtime) == 3
    running.settle()
    assert running.count(Enrollment) == 3
    with running.database.sessions() as session:
        done = session.scalars(
            select(OutboxMessage.done_at).where(OutboxMessage.topic == "events.route")
        ).all()
    assert len(done) == 3 and all(done)


def test_merged_messages_keep_to_the_limit_and_keep_other_topics_apart():
    rows = [outbox.Pending(n, "events.route", {"event_ids": list(range(90))}) for n in range(3)]
    rows.insert(1, outbox.Pending(9, "webhook.call", {"url": "https://crm.example.jp"}))
    messages = dispatches(rows)
    assert [[row.id for row in batch] for batch, _ in messages] == [[0, 1], [2], [9]]
    assert [row.id for row in rows] == [
        0,
        1,
        2,
        9,
    ]  # reordered as sent: a failure releases the rest
