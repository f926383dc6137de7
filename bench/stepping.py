"""Stepping throughput and worker memory: due enrollments advanced as the workers advance them.

A deployed journey ``wait 1d → branch on an attribute → tag | update_contact | score → wait 7d``
holds N enrollments whose wait is over (N = 1,000,000 on PostgreSQL, 100,000 on SQLite;
``NURTURE_BENCH_ENROLLMENTS`` changes it). Worker processes (two on PostgreSQL, one on
SQLite, whose single writer gains nothing from a second; ``NURTURE_BENCH_WORKERS`` changes
it) loop as the scheduler and the workers do between them: lease 500 due enrollments with
``claim_due`` and commit, then ``advance`` them in units of work of 100, until none is due.
Each enrollment ends its wait, takes the branch, applies one action, records three step runs
and starts the next wait; afterwards every enrollment is checked to be there.

The baseline is one bulk ``UPDATE`` of the same rows making the same change to the stored
enrollment (step, status, wake time, step count, state document), on a fresh copy of the
same data. On PostgreSQL both timed phases start after a ``CHECKPOINT`` (the benchmark
connects as a superuser or a member of ``pg_checkpoint``). The ratio is what loading
contacts, planning, the effects and the batching cost.

Worker memory is each worker's peak resident set while stepping (``ru_maxrss``), against the
same process's resident set once started and connected, before its first batch.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from multiprocessing.synchronize import Event as EventType
from typing import Any

from sqlalchemy import Engine, bindparam, text
from sqlalchemy.orm import Session

from bench.runner import Context, Figure, median
from engine.clock import utcnow
from engine.deploy.service import apply_deploy, plan_deploy
from engine.journey import EnrollmentState, validate_journey
from engine.operations.heap import settle
from engine.runtime.advance import advance
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.sweep import claim_due
from engine.store.db import Database
from engine.store.types import UTCDateTime

ENROLLMENTS = {"postgresql": 1_000_000, "sqlite": 100_000}
WORKERS = {"postgresql": 2, "sqlite": 1}
#: What one sweep leases, and what one actor message steps: the production sizes.
CLAIM_BATCH = 500
MESSAGE_SIZE = 100
JOURNEY_ID = "bench-stepping"
JOURNEY = f"""\
dsl: journey/v1
id: {JOURNEY_ID}
name: Stepping benchmark
version: 1
triggers: [{{event: signed_up}}]
start: pause
steps:
  pause: {{type: wait, duration: 1d, next: route}}
  route:
    type: branch
    cases:
      - {{when: {{attr: plan, eq: pro}}, next: mark}}
      - {{when: {{attr: plan, eq: team}}, next: note}}
    default: points
  mark: {{type: tag, add: [pro-nurtured], next: later}}
  note: {{type: update_contact, set: {{nurtured: true}}, next: later}}
  points: {{type: score, adjust: 5, reason: trial nurtured, next: later}}
  later: {{type: wait, duration: 7d, next: done}}
  done: {{type: exit, reason: done}}
"""


@dataclass(frozen=True, slots=True)
class Stepped:
    """One worker's share of a run: enrollments stepped, resident set at start and peak (KiB)."""

    stepped: int
    start_rss_kib: int
    peak_rss_kib: int


def enrollments(dialect: str) -> int:
    """How many enrollments to step: ``NURTURE_BENCH_ENROLLMENTS`` or the backend's default."""
    return int(os.environ.get("NURTURE_BENCH_ENROLLMENTS") or ENROLLMENTS[dialect])


def workers(dialect: str) -> int:
    """How many worker processes step them: ``NURTURE_BENCH_WORKERS`` or the backend's default."""
    return int(os.environ.get("NURTURE_BENCH_WORKERS") or WORKERS[dialect])


def deploy(database: Database, now: datetime) -> int:
    """Deploy the journey through the deploy service, as ``nurture journeys deploy`` does."""
    with database.unit_of_work() as session:
        result = apply_deploy(
            session,
            plan_deploy(session, [("bench-stepping.yaml", JOURNEY)]),
            now=now,
            published_by="bench",
        )
    version = result.journeys[0].version
    assert version is not None
    return version


def waiting_state(version: int, entered: datetime, wake: datetime) -> dict[str, Any]:
    """The stored state of an enrollment waiting in ``pause`` (ids filled in per row by SQL)."""
    report = validate_journey(JOURNEY, "bench-stepping.yaml")
    assert report.spec is not None, report.format()
    spec = report.spec.model_copy(update={"version": version})
    state = EnrollmentState.enter(spec, enrollment_id="0", contact_id="0", entered_at=entered)
    waiting = replace(state.visit("pause"), status="waiting", wait_started_at=entered, wake_at=wake)
    return waiting.to_json()


def populate(engine: Engine, count: int, version: int, now: datetime) -> None:
    """Write ``count`` contacts and their enrollments, past their wait, in a few statements."""
    entered = now - timedelta(days=1, minutes=5)
    wake = entered + timedelta(days=1)
    state = waiting_state(version, entered, wake)
    at_entry = bindparam("entered", entered, type_=UTCDateTime())
    at_wake = bindparam("wake", wake, type_=UTCDateTime())
    dialect = engine.dialect.name
    plan = "CASE x % 3 WHEN 0 THEN 'pro' WHEN 1 THEN 'team' ELSE 'trial' END"
    if dialect == "postgresql":
        rows = "FROM generate_series(1, :n) AS g(x)"
        attributes = f"jsonb_build_object('plan', {plan})"
        document = (
            "CAST(:state AS jsonb) || "
            "jsonb_build_object('enrollment_id', x::text, 'contact_id', x::text)"
        )
        entry = 'CAST(\'{"name": "manual"}\' AS jsonb)'
    else:
        rows = (
            "FROM (WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :n) "
            "SELECT x FROM g)"
        )
        attributes = f"json_object('plan', {plan})"
        document = (
            "json_set(:state, '$.enrollment_id', CAST(x AS TEXT), '$.contact_id', CAST(x AS TEXT))"
        )
        entry = '\'{"name": "manual"}\''
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO contacts (id, email, attributes, lifecycle_stage, score, "
                f"created_at, updated_at) SELECT x, 'c' || x || '@example.jp', {attributes}, "
                f"'lead', 0, :entered, :entered {rows}"
            ).bindparams(at_entry),
            {"n": count},
        )
        connection.execute(
            text(
                "INSERT INTO enrollments (id, journey_id, version, contact_id, key, status, step, "
                "wake_at, entry, state, steps_taken, entered_at, updated_at) "
                f"SELECT x, :journey, :version, x, '', 'waiting', 'pause', :wake, {entry}, "
                f"{document}, 1, :entered, :entered {rows}"
            ).bindparams(at_entry, at_wake),
            {"n": count, "journey": JOURNEY_ID, "version": version, "state": json.dumps(state)},
        )
        if dialect == "postgresql":
            for table in ("contacts", "enrollments"):
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :n)"),
                    {"n": count},
                )
    if dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE contacts, enrollments"))
            # Writing the data leaves gigabytes of WAL and dirty pages behind. A checkpoint
            # now flushes them, so the timed phase (the bulk UPDATE or the workers) does not
            # share the disk and the CPUs with flushing the setup's writes, at a random point.
            connection.execute(text("CHECKPOINT"))


def clear(engine: Engine) -> None:
    """Delete what a run wrote and its contacts, keeping the deployed journey."""
    tables = ("outbox", "score_changes", "step_runs", "contact_tags", "enrollments", "contacts")
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names


def bulk_update(engine: Engine, now: datetime) -> int:
    """The floor: one UPDATE moving every due enrollment to ``later``, as a plan would."""
    wake = now + timedelta(days=7)
    values = {
        "step": "later",
        "now": now,
        "wake": wake,
        "now_iso": now.isoformat(),
        "wake_iso": wake.isoformat(),
    }
    action = "CASE contact_id % 3 WHEN 0 THEN 'mark' WHEN 1 THEN 'note' ELSE 'points' END"
    if engine.dialect.name == "postgresql":
        document = (
            "state || jsonb_build_object('step', 'later', 'status', 'waiting', "
            "'steps_taken', steps_taken + 3, 'wait_started_at', CAST(:now_iso AS text), "
            "'wake_at', CAST(:wake_iso AS text), 'attempts', (state -> 'attempts') || "
            f"jsonb_build_object('route', 1, {action}, 1, 'later', 1))"
        )
    else:
        document = (
            "json_set(state, '$.step', 'later', '$.status', 'waiting', "
            "'$.steps_taken', steps_taken + 3, '$.wait_started_at', :now_iso, "
            "'$.wake_at', :wake_iso, '$.attempts.route', 1, "
            f"'$.attempts.' || ({action}), 1, '$.attempts.later', 1)"
        )
    update = (
        "UPDATE enrollments SET step = :step, status = 'waiting', wake_at = :wake, "  # noqa: S608 - fixed SQL
        f"steps_taken = steps_taken + 3, updated_at = :now, state = {document} "
        "WHERE status != 'exited' AND wake_at <= :now"
    )
    statement = text(update).bindparams(
        bindparam("now", type_=UTCDateTime()), bindparam("wake", type_=UTCDateTime())
    )
    with engine.begin() as connection:
        return connection.execute(statement, values).rowcount


def step_due(database: Database, owner: str) -> int:
    """Lease and advance due enrollments until none is left; return how many were stepped."""
    journeys = CompiledJourneys()
    stepped = 0
    while True:
        with database.unit_of_work() as session:
            ids = claim_due(session, now=utcnow(), limit=CLAIM_BATCH, owner=owner)
        if not ids:
            return stepped
        for start in range(0, len(ids), MESSAGE_SIZE):
            with database.unit_of_work() as session:
                result = advance(
                    session,
                    ids[start : start + MESSAGE_SIZE],
                    now=utcnow(),
                    journeys=journeys,
                    message_domain="mail.example.jp",
                )
            stepped += result.stepped


def resident_kib() -> int:
    """This process's resident set now (KiB), from /proc."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def worker(url: str, owner: str, go: EventType, results: Any) -> None:
    """One worker process: connect, say ready, wait for the start, step, report."""
    database = Database(url)
    with database.sessions() as session:
        session.execute(text("SELECT 1"))
    settle()  # as ``nurture worker`` does once started
    results.put(("ready", owner))
    start_rss = resident_kib()
    go.wait()
    stepped = step_due(database, owner)
    database.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results.put(("done", Stepped(stepped, start_rss, peak)))


def step_in_workers(url: str, count: int) -> tuple[float, list[Stepped]]:
    """Step everything due in ``count`` fresh worker processes; return seconds and their shares."""
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    results = context.Queue()
    processes = [
        context.Process(target=worker, args=(url, f"bench-worker-{n}", go, results))
        for n in range(count)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        assert results.get(timeout=120)[0] == "ready"
    started = time.perf_counter()
    go.set()
    shares = []
    for _ in processes:
        kind, share = results.get()
        assert kind == "done"
        shares.append(share)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join(timeout=60)
    return elapsed, shares


def moved(session: Session, count: int) -> None:
    """Check every enrollment is waiting in ``later`` and each effect landed once."""
    later = session.scalar(
        text("SELECT count(*) FROM enrollments WHERE step = 'later' AND status = 'waiting'")
    )
    assert later == count, f"{later} of {count} enrollments moved"
    runs = session.scalar(text("SELECT count(*) FROM step_runs"))
    assert runs == 3 * count, f"{runs} step runs for {count} enrollments"
    tags = session.scalar(text("SELECT count(*) FROM contact_tags WHERE tag = 'pro-nurtured'"))
    assert tags == count // 3, f"{tags} tags for {count // 3} pro contacts"
    scored = session.scalar(text("SELECT count(*) FROM score_changes"))
    assert scored == (count + 1) // 3, f"{scored} score changes for {(count + 1) // 3} trials"


def run(context: Context) -> list[Figure]:
    """Measure the bulk update, then the workers, each on fresh data; return both figures."""
    database = context.database()
    engine = database.engine
    dialect = engine.dialect.name
    count, processes = enrollments(dialect), workers(dialect)
    version = deploy(database, utcnow())
    nurture, bare, peak, idle = [], [], [], []
    try:
        for _ in range(context.repeat):
            clear(engine)
            populate(engine, count, version, utcnow())
            started = time.perf_counter()
            updated = bulk_update(engine, utcnow())
            bare.append(count / (time.perf_counter() - started))
            assert updated == count, f"the bulk update moved {updated} of {count}"

            clear(engine)
            populate(engine, count, version, utcnow())
            elapsed, shares = step_in_workers(context.database_url, processes)
            stepped = sum(s.stepped for s in shares)
            assert stepped == count, f"the workers stepped {stepped} of {count}"
            with database.sessions() as session:
                moved(session, count)
            nurture.append(count / elapsed)
            peak.append(max(s.peak_rss_kib for s in shares) / 1024)
            idle.append(max(s.start_rss_kib for s in shares) / 1024)
    finally:
        database.dispose()
    label = f"{processes} worker process{'es' * (processes != 1)}"
    return [
        Figure(
            "stepping",
            f"{count:,} due enrollments: wait → branch → action → wait, {label}",
            "enrollments/s",
            median(nurture),
            "one bulk UPDATE of the enrollments",
            median(bare),
            context.repeat,
        ),
        Figure(
            "stepping",
            f"peak RSS of a worker stepping {count:,} enrollments",
            "MiB",
            median(peak),
            "the same worker before its first batch",
            median(idle),
            context.repeat,
        ),
    ]
