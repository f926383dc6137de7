"""The runtime report on both backends: figures from real rows, and when it says degraded."""

from __future__ import annotations

from datetime import timedelta

from engine.operations.health import RuntimeProbes, runtime_report
from engine.operations.heartbeat import ProcessIdentity, beat, record_probe
from engine.runtime import outbox
from engine.runtime.topics import ROUTE_EVENTS, SEND_EMAIL
from engine.store.db import Database
from engine.store.models import Message, WebhookDelivery
from tests.engine.runtime.test_advance import NOW, yamada  # noqa: F401 - fixture

WORKER = ProcessIdentity(role="worker", host="work-1", pid=200)
LEADER = ProcessIdentity(role="scheduler", host="sched-1", pid=300)
STANDBY = ProcessIdentity(role="scheduler", host="sched-2", pid=301)
CONSUMED = RuntimeProbes(broker="redis://broker:6379/0", consumed_topics={ROUTE_EVENTS})


def a_healthy_fleet(database: Database, *, at=NOW) -> None:
    """A worker that took a probe 40 ms late, a leading scheduler and a standby."""
    with database.unit_of_work() as session:
        beat(session, WORKER, started_at=at, now=at, info={"queues": ["journeys"]})
        record_probe(session, WORKER, sent_at=at, now=at + timedelta(milliseconds=40))
        beat(session, LEADER, started_at=at, now=at, info={"leader": True})
        beat(session, STANDBY, started_at=at, now=at, info={"leader": False})


def report(database: Database, *, at=NOW, probes: RuntimeProbes = CONSUMED):
    with database.sessions() as session:
        return runtime_report(session, now=at, probes=probes)


def test_nobody_running_is_degraded_for_want_of_a_worker_and_a_leader(database):
    seen = report(database)
    document = seen.document()

    assert document["status"] == "degraded"
    assert document["reasons"] == [
        "no worker has reported in the last 30 s",
        "no scheduler leads (none reporting as leader in the last 30 s)",
    ]
    assert document["enrollments"] == {"live": 0, "due": 0, "oldest_due_age_s": None}
    assert document["workers"] == {"alive": 0, "last_probe": None}
    assert document["scheduler"] == {"alive": 0, "leader": None}
    assert document["broker"] == {
        "url": "redis://broker:6379/0",
        "reachable": True,
        "queues": None,
        "error": None,
    }


def test_a_healthy_fleet_is_ok_and_names_its_leader_and_last_probe(database):
    a_healthy_fleet(database)

    document = report(database, at=NOW + timedelta(seconds=5)).document()

    assert (document["status"], document["reasons"]) == ("ok", [])
    assert document["scheduler"] == {"alive": 2, "leader": LEADER.id}
    assert document["workers"]["alive"] == 1
    assert document["workers"]["last_probe"]["process"] == WORKER.id
    assert document["workers"]["last_probe"]["latency_ms"] == 40
    roles = {p["id"]: (p["role"], p["leader"]) for p in document["processes"]}
    assert roles == {
        WORKER.id: ("worker", None),
        LEADER.id: ("scheduler", True),
        STANDBY.id: ("scheduler", False),
    }


def test_heartbeats_older_than_30_seconds_do_not_count(database):
    a_healthy_fleet(database)

    document = report(database, at=NOW + timedelta(seconds=31)).document()

    assert document["status"] == "degraded"
    assert (document["workers"]["alive"], document["scheduler"]["leader"]) == (0, None)


def test_a_due_enrollment_over_a_minute_late_degrades(database, yamada):  # noqa: F811
    a_healthy_fleet(database, at=NOW + timedelta(seconds=61))

    on_time = report(database, at=NOW + timedelta(seconds=60)).document()
    late = report(database, at=NOW + timedelta(seconds=61)).document()

    assert on_time["enrollments"] == {"live": 1, "due": 1, "oldest_due_age_s": 60.0}
    assert "oldest due" not in " ".join(on_time["reasons"])
    assert late["status"] == "degraded"
    assert late["reasons"] == ["the oldest due enrollment is 61 s late (over 60 s)"]


def test_only_outbox_topics_with_a_consumer_can_be_late(database):
    with database.unit_of_work() as session:
        outbox.enqueue(session, ROUTE_EVENTS, {"event_ids": [1]}, now=NOW)
        outbox.enqueue(session, SEND_EMAIL, {"message_id": 1}, now=NOW - timedelta(hours=2))
    at = NOW + timedelta(minutes=5, seconds=1)
    a_healthy_fleet(database, at=at)

    document = report(database, at=at).document()
    everything = report(database, at=at, probes=RuntimeProbes()).document()

    assert document["outbox"] == {
        "pending": 2,
        "oldest_pending_age_s": 301.0,
        "topics": {
            SEND_EMAIL: {"pending": 1, "oldest_age_s": 7501.0, "consumed": False},
            ROUTE_EVENTS: {"pending": 1, "oldest_age_s": 301.0, "consumed": True},
        },
    }
    assert document["reasons"] == ["the oldest pending outbox row is 301 s old (over 300 s)"]
    assert everything["outbox"]["oldest_pending_age_s"] == 7501.0


def test_failures_are_counted_by_window(database):
    with database.unit_of_work() as session:
        for n, (status, ago) in enumerate(
            [("failed", 1), ("failed", 30), ("failed", 90), ("sent", 1), ("queued", 2)]
        ):
            session.add(
                Message(
                    uid=f"u{n}",
                    message_id=f"<m{n}@mail.example.jp>",
                    idempotency_key=f"k{n}",
                    template="welcome",
                    status=status,
                    attempts=1,
                    queued_at=NOW - timedelta(minutes=ago),
                )
            )
        for n, (status, ago) in enumerate([("dead", 10), ("dead", 120), ("pending", 1)]):
            session.add(
                WebhookDelivery(
                    webhook_id=f"w{n}",
                    kind="journey",
                    method="POST",
                    url="https://crm.example.com/hook",
                    headers={},
                    status=status,
                    created_at=NOW - timedelta(minutes=ago),
                )
            )
        retried = outbox.enqueue(session, ROUTE_EVENTS, {"event_ids": [1]}, now=NOW)
        for day in range(4):  # sent four times, and never done
            outbox.claim(
                session, now=NOW + timedelta(days=day), topics=[ROUTE_EVENTS], ids=[retried]
            )

    errors = report(database).document()["errors"]

    assert errors == {
        "messages_failed_5m": 1,
        "messages_failed_60m": 2,
        "webhooks_dead": 2,
        "webhooks_dead_60m": 1,
        "outbox_retrying": 1,
    }


def test_queue_depths_are_reported_and_a_broker_that_fails_degrades(database):
    a_healthy_fleet(database)

    def down() -> dict[str, int]:
        raise ConnectionError("Error 111 connecting to broker:6379. Connection refused.")

    up = report(database, probes=RuntimeProbes(queue_depths=lambda: {"journeys": 3, "a": 0}))
    broken = report(database, probes=RuntimeProbes(queue_depths=down))

    assert up.document()["broker"]["queues"] == {"a": 0, "journeys": 3}
    assert broken.status == "degraded"
    assert broken.document()["broker"]["reachable"] is False
    assert broken.reasons == [
        "the broker does not answer: ConnectionError: Error 111 connecting to broker:6379. "
        "Connection refused."
    ]


def test_nurture_up_counts_as_worker_and_scheduler(database):
    alone = ProcessIdentity(role="up", host="laptop", pid=1)
    with database.unit_of_work() as session:
        beat(session, alone, started_at=NOW, now=NOW, info={"leader": True})

    seen = report(database)

    assert seen.status == "ok"
    assert seen.document()["scheduler"]["leader"] == alone.id
