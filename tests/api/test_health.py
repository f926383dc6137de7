"""``GET /api/health`` (no key, for load balancers) and ``GET /api/health/runtime`` (operators)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.clock import utcnow
from engine.operations.health import RuntimeProbes
from engine.operations.heartbeat import ProcessIdentity, beat
from engine.runtime import outbox
from engine.runtime.topics import ROUTE_EVENTS
from engine.store.db import Database
from tests.conftest import TEST_SECRET

NURTURE = str(Path(sys.executable).with_name("nurture"))


def test_health_needs_no_key_and_names_the_migration(client):
    response = client.get("/api/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["migration"] == body["expected_migration"]


def test_runtime_health_needs_an_operators_key(client, key_for):
    anonymous = client.get("/api/health/runtime")
    ingest = client.get("/api/health/runtime", headers=key_for("ingest"))
    sales = client.get("/api/health/runtime", headers=key_for("sales"))
    marketer = client.get("/api/health/runtime", headers=key_for("marketer"))

    assert anonymous.status_code == 401
    assert (ingest.status_code, sales.status_code) == (403, 403)
    assert marketer.status_code == 200


def test_runtime_health_reports_the_figures_and_why_it_is_degraded(client, admin, database):
    with database.unit_of_work() as session:
        outbox.enqueue(session, ROUTE_EVENTS, {"event_ids": [1]}, now=utcnow())
        beat(
            session,
            ProcessIdentity(role="worker", host="work-1", pid=7),
            started_at=utcnow(),
            now=utcnow(),
            info={},
        )
    client.app.state.runtime_probes = RuntimeProbes(
        broker="redis://broker:6379/0",
        queue_depths=lambda: {"journeys": 4, "operations": 0},
        consumed_topics={ROUTE_EVENTS},
    )

    response = client.get("/api/health/runtime", headers=admin)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["reasons"] == ["no scheduler leads (none reporting as leader in the last 30 s)"]
    assert body["workers"]["alive"] == 1
    assert body["broker"]["queues"] == {"journeys": 4, "operations": 0}
    assert body["outbox"]["topics"][ROUTE_EVENTS]["pending"] == 1
    assert set(body) == {
        "status",
        "reasons",
        "checked_at",
        "enrollments",
        "outbox",
        "broker",
        "workers",
        "scheduler",
        "errors",
        "processes",
    }


def test_status_json_prints_the_same_document(client, admin, database: Database, tmp_path):
    with database.unit_of_work() as session:
        beat(
            session,
            ProcessIdentity(role="up", host="laptop", pid=9),
            started_at=utcnow(),
            now=utcnow(),
            info={"leader": True},
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(NURTURE_DATABASE_URL=database.url, NURTURE_SECRET_KEY=TEST_SECRET)
    printed = subprocess.run(
        [NURTURE, "status", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    served = client.get("/api/health/runtime", headers=admin).json()

    document = json.loads(printed.stdout)
    for body in (document, served):
        body.pop("checked_at")
        for process in body["processes"]:
            process.pop("seen_age_s")
    assert document["status"] == "ok"
    assert document["broker"] == {
        "url": "in-process",
        "reachable": True,
        "queues": None,
        "error": None,
    }
    assert {k: v for k, v in document.items() if k != "broker"} == {
        k: v for k, v in served.items() if k != "broker"
    }
