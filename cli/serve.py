"""What ``nurture up``, ``api``, ``worker`` and ``scheduler`` start and stop.

``up`` is every role in one process (embedded mode's in-process broker, the SMTP capture,
the leading scheduler and the HTTP server on one port); the other three are the production
roles, each safe to run as many processes on many machines. All of them build their parts
from the same functions, so embedded mode and production share one code path.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dramatiq
import redis
import typer
import uvicorn
from fastapi import FastAPI
from rich.panel import Panel
from rich.table import Table
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from admin.app import create_app
from admin.mailbox import mount_embedded
from cli.runtime import err, fail, load_settings, open_database, out
from cli.status import runtime_probes
from engine.auth.apikeys import create_api_key
from engine.clock import utcnow
from engine.contacts.service import ContactRow, upsert_contacts
from engine.email import pool
from engine.email.capture import CaptureServer
from engine.errors import ConfigurationError
from engine.events.schemas import EventIn
from engine.events.service import ingest_events
from engine.operations.heap import settle
from engine.operations.heartbeat import HeartbeatLoop, ProcessIdentity
from engine.operations.logs import configure_logging, dict_config
from engine.settings import Settings
from engine.store.db import Database
from engine.tracking.buffer import buffer_for
from workers import actors  # noqa: F401 - declares the actors build_broker binds
from workers import email as email_actors  # noqa: F401 - declares email.send
from workers.broker import build_broker, describe_broker
from workers.jobs import standard_jobs
from workers.leadership import leadership_for
from workers.relay import coalesced_relay
from workers.runtime import Runtime, install, uninstall
from workers.scheduler import LeaderScheduler
from workers.tracking import TrackingConsumer

log = logging.getLogger(__name__)

#: Worker threads of the in-process worker of ``nurture up``.
UP_WORKER_THREADS = 4
#: How long a stopping worker waits for messages in progress (ms) before giving up on them.
WORKER_SHUTDOWN_MS = 30_000
#: Files in var/ that record what the first ``nurture up`` did.
SEEDED_MARKER = "demo-seeded"
API_KEY_FILE = "api-key"


def run_up(host: str, port: int) -> None:
    """Run everything in one process: API, admin, tracking, worker, scheduler, SMTP capture."""
    settings = load_settings()
    listener = _listen(host, port)
    _require_secret(settings)
    _configure_logging(settings, "up")
    with ExitStack() as stack:
        stack.callback(listener.close)
        database = open_database(settings)
        stack.callback(database.dispose)
        capture: CaptureServer | None = None
        if settings.embedded:
            try:
                capture = CaptureServer(settings.var_dir, port=settings.capture_smtp_port)
                capture.start()
            except ConfigurationError as error:
                fail(error.message)
            stack.callback(capture.stop)
        if settings.bounce_smtp_port:  # opt-in: only useful where an MX record points here
            from cli.bounces import receiver_for

            bounces = receiver_for(settings, database, host, settings.bounce_smtp_port)
            stack.callback(bounces.stop)
        api_key = _seed_once(settings, database) if settings.embedded else None

        broker = build_broker(settings)
        stack.callback(broker.close)
        identity = ProcessIdentity.current("up")
        runtime = Runtime(
            settings=settings,
            database=database,
            process=identity,
            capture_port=capture.port if capture is not None else None,
        )
        install(runtime)
        stack.callback(uninstall)

        app = create_app(settings, database)
        app.state.relay = coalesced_relay(runtime)
        app.state.runtime_probes = runtime_probes(settings, broker)
        ingest = TrackingConsumer(
            database, app.state.tracking_buffer, after_commit=coalesced_relay(runtime)
        )
        ingest.start()
        stack.callback(ingest.stop)  # before the database closes: drains the buffer
        mount_embedded(app, settings)
        if capture is not None:
            app.state.capture_address = capture.address
        bound_port = int(listener.getsockname()[1])
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level=settings.log_level.lower(),
                log_config=_uvicorn_log_config(settings, "up"),
                server_header=False,
            )
        )
        stopping = threading.Event()

        def stop() -> None:
            stopping.set()
            server.should_exit = True

        _on_signals(stop)

        worker = dramatiq.Worker(broker, worker_threads=UP_WORKER_THREADS, worker_timeout=250)
        worker.start()
        stack.callback(pool.close_all)  # runs after the worker stopped (callbacks unwind)
        stack.callback(worker.stop, WORKER_SHUTDOWN_MS)
        heartbeat = HeartbeatLoop(
            database,
            identity,
            info=lambda: {
                **_info(settings, sorted(broker.get_declared_queues())),
                "leader": sweeps.is_leader,
                "http": f"{host}:{bound_port}",
                "smtp_capture": capture.address if capture else None,
            },
        )
        sweeps = LeaderScheduler(
            standard_jobs(runtime),
            leadership_for(settings, database, owner=_owner(identity)),
            blocking=False,
            on_change=lambda _leading: heartbeat.beat(),
        )
        sweeps.start()
        stack.callback(sweeps.shutdown)
        heartbeat.start()
        stack.callback(heartbeat.stop)

        _print_welcome(settings, host, bound_port, capture, api_key)
        settle()
        if not stopping.is_set():
            server.run(sockets=[listener])
        err.print("stopping…")
    out.print("stopped")


def run_api(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API, admin and tracking (production: the schema must be current)."""
    settings = load_settings()
    _require_secret(settings)
    _configure_logging(settings, "api")
    open_database(settings).dispose()  # fail here, clearly, rather than in every worker
    _listen(host, port).close()
    uvicorn.run(
        "cli.serve:api_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=_uvicorn_log_config(settings, "api"),
        server_header=False,
        proxy_headers=True,
    )


def api_app() -> FastAPI:
    """Build the app of one ``nurture api`` process (uvicorn calls this in each worker)."""
    settings = load_settings()
    database = open_database(settings)
    broker = build_broker(settings)
    identity = ProcessIdentity.current("api")
    runtime = Runtime(settings=settings, database=database, process=identity)
    install(runtime)
    app = create_app(settings, database)
    app.state.relay = coalesced_relay(runtime)
    app.state.runtime_probes = runtime_probes(settings, broker if settings.broker_url else None)
    mount_embedded(app, settings)
    heartbeat = HeartbeatLoop(database, identity, info=lambda: _info(settings, []))
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        await run_in_threadpool(heartbeat.start)
        try:
            async with previous(app_) as state:
                yield state
        finally:
            await run_in_threadpool(heartbeat.stop)
            broker.close()
            database.dispose()

    app.router.lifespan_context = lifespan
    settle()
    return app


def run_workers(processes: int, threads: int, queues: list[str] | None) -> None:
    """Process messages from the Redis broker until SIGTERM, finishing work in progress."""
    settings = load_settings()
    _require_broker(settings, "worker")
    _require_secret(settings)
    _configure_logging(settings, "worker")
    open_database(settings).dispose()
    names = sorted({q.strip() for item in queues or [] for q in item.split(",") if q.strip()})
    if processes == 1:
        _run_worker(settings, threads, names)
        return
    raise typer.Exit(_supervise(processes, threads, names))


def run_scheduler() -> None:
    """Run periodic sweeps; of many scheduler processes one leads and the others stand by."""
    settings = load_settings()
    _require_broker(settings, "scheduler")
    _require_secret(settings)
    _configure_logging(settings, "scheduler")
    database = open_database(settings)
    broker = build_broker(settings)
    identity = ProcessIdentity.current("scheduler")
    runtime = Runtime(settings=settings, database=database, process=identity)
    install(runtime)
    jobs = standard_jobs(runtime)
    heartbeat = HeartbeatLoop(
        database,
        identity,
        info=lambda: {**_info(settings, []), "leader": leader_scheduler.is_leader},
    )
    leader_scheduler = LeaderScheduler(
        jobs,
        leadership_for(settings, database, owner=_owner(identity)),
        blocking=True,
        on_change=lambda _leading: heartbeat.beat(),  # show a new leader at once
    )

    def stop() -> None:
        # Shutting down waits for running jobs: never do that inside a signal handler.
        threading.Thread(target=leader_scheduler.shutdown, name="scheduler-stop").start()

    _on_signals(stop)
    heartbeat.start()
    settle()
    err.print(f"scheduler {identity.id} started; jobs: {', '.join(jobs.names())}")
    try:
        leader_scheduler.start()  # returns after shutdown
    finally:
        heartbeat.stop()
        broker.close()
        uninstall()
        database.dispose()
    out.print("scheduler stopped")


def _run_worker(settings: Settings, threads: int, queues: list[str]) -> None:
    """Run one worker process until SIGINT or SIGTERM."""
    database = open_database(settings)
    broker = build_broker(settings)
    identity = ProcessIdentity.current("worker")
    runtime = Runtime(settings=settings, database=database, process=identity)
    install(runtime)
    # Every worker also drains tracking hits; the consumer group shares them out.
    ingest = TrackingConsumer(
        database,
        buffer_for(settings.resolved_redis_url, embedded=settings.embedded),
        after_commit=coalesced_relay(runtime),
    )
    declared = broker.get_declared_queues()
    unknown = sorted(set(queues) - declared)
    if unknown:
        err.print(
            f"[yellow]warning:[/] no actor uses {', '.join(unknown)} "
            f"(known queues: {', '.join(sorted(declared))})"
        )
    consumed = queues or sorted(declared)
    dramatiq_worker = dramatiq.Worker(broker, queues=set(queues) or None, worker_threads=threads)
    heartbeat = HeartbeatLoop(
        database, identity, info=lambda: {**_info(settings, consumed), "threads": threads}
    )
    stopping = threading.Event()
    _on_signals(stopping.set)
    settle()
    dramatiq_worker.start()
    try:
        heartbeat.start()
        ingest.start()
        err.print(f"worker {identity.id}: {threads} threads on {', '.join(consumed)}")
        while not stopping.wait(1.0):
            pass
    finally:
        try:
            dramatiq_worker.stop(timeout=WORKER_SHUTDOWN_MS)
        except redis.exceptions.ConnectionError as error:
            # Messages fetched but not run stay unacknowledged: Redis hands them out again
            # and the sweep finds their enrollments due, so stopping need not wait for it.
            err.print(f"[yellow]warning:[/] broker unreachable while stopping ({error})")
        pool.close_all()  # QUIT on the pooled SMTP connections once no batch uses them
        heartbeat.stop()
        ingest.stop(drain=False)  # what is left stays in the stream for the other workers
        broker.close()
        uninstall()
        database.dispose()
    err.print(f"worker {identity.id} stopped")


def _worker_child(threads: int, queues: list[str]) -> None:
    """Entry point of one worker process started by ``--processes``."""
    try:
        settings = load_settings()
        _configure_logging(settings, "worker")
        _run_worker(settings, threads, queues)
    except typer.Exit as stop:
        sys.exit(stop.exit_code)


def _supervise(processes: int, threads: int, queues: list[str]) -> int:
    """Run ``processes`` worker processes; stop them all on SIGTERM or when one dies."""
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_worker_child, args=(threads, queues), name=f"nurture-worker-{n}")
        for n in range(processes)
    ]
    stopping = threading.Event()
    _on_signals(stopping.set)
    for child in children:
        child.start()
    code = 0
    while not stopping.wait(0.5):
        dead = [c for c in children if not c.is_alive()]
        if dead:
            err.print(
                f"[bold red]error:[/] worker process {dead[0].pid} exited with code "
                f"{dead[0].exitcode}; stopping the others"
            )
            code = 1
            break
    for child in children:
        if child.is_alive():
            child.terminate()  # SIGTERM: finish work in progress, then exit
    for child in children:
        child.join(timeout=WORKER_SHUTDOWN_MS / 1000 + 5)
        if child.is_alive():
            child.kill()
            code = 1
    return code


def _seed_once(settings: Settings, database: Database) -> str | None:
    """On the first ``nurture up``: deploy the journeys folder, add demo contacts and events
    (which the journeys then act on), and make an admin API key.

    Returns the new key (saved to ``var/api-key``, mode 0600), or None on later starts.
    Marker files in var/ make this run once: a restart never undoes the user's edits.
    """
    marker = settings.var_dir / SEEDED_MARKER
    key_file = settings.var_dir / API_KEY_FILE
    seed, make_key = not marker.exists(), not key_file.exists()
    if not seed and not make_key:
        return None
    now = utcnow()
    key: str | None = None
    with database.unit_of_work() as session:
        if seed:
            _deploy_examples(session, settings, now=now)
            upsert_contacts(session, DEMO_CONTACTS, now=now, reason="demo data")
            ingest_events(session, _demo_events(now), now=now, source="demo")
        if make_key:
            key = create_api_key(session, name="nurture up", scopes=["admin"], now=now)
    if key is not None:
        _write_private(key_file, key + "\n")
    if seed:
        marker.write_text(f"demo data added {now.isoformat()}\n", encoding="utf-8")
    return key


DEMO_CONTACTS = [
    ContactRow(
        email="taro.yamada@example.jp",
        first_name="太郎",
        last_name="山田",
        timezone="Asia/Tokyo",
        locale="ja",
        lifecycle_stage="lead",
        attributes={"company": "山田商事株式会社", "title": "営業部長"},
    ),
    ContactRow(
        email="hanako.sato@example.jp",
        first_name="花子",
        last_name="佐藤",
        timezone="Asia/Tokyo",
        locale="ja",
        attributes={"company": "佐藤デザイン事務所"},
    ),
    ContactRow(
        email="kenji.suzuki@example.jp",
        first_name="健二",
        last_name="鈴木",
        timezone="Asia/Tokyo",
        locale="ja",
    ),
    ContactRow(
        email="alice.johnson@example.com",
        first_name="Alice",
        last_name="Johnson",
        timezone="America/New_York",
        locale="en",
        lifecycle_stage="lead",
        attributes={"company": "Northwind Traders"},
    ),
    ContactRow(
        email="oliver.smith@example.com",
        first_name="Oliver",
        last_name="Smith",
        timezone="Europe/London",
        locale="en",
    ),
]


def _deploy_examples(session: Session, settings: Settings, *, now: datetime) -> None:
    """Deploy the journeys folder, so the demo runs journeys; a folder with errors is skipped."""
    from engine.deploy import service as deploy
    from engine.deploy.catalog import catalog_from_disk

    folder = settings.journeys_dir
    files = [(str(p), p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.yaml"))]
    if not files:
        return
    plan = deploy.plan_deploy(session, files, catalog_from_disk(folder, settings.templates_dir))
    if not plan.ok:
        err.print(
            f"[yellow]the journeys in {folder} have errors, so none was deployed; "
            "see: nurture journeys validate[/]"
        )
        return
    result = deploy.apply_deploy(session, plan, now=now, published_by="nurture up (demo)")
    out.print(f"deployed {len(result.deployed)} journeys from {folder}")


def _demo_events(now: datetime) -> list[EventIn]:
    hours = timedelta(hours=1)
    events = [
        ("taro.yamada@example.jp", "page_viewed", {"url": "/seminars/2026-winter"}, 30),
        ("taro.yamada@example.jp", "form_submitted", {"form": "セミナー申込"}, 29),
        ("hanako.sato@example.jp", "page_viewed", {"url": "/pricing"}, 20),
        ("hanako.sato@example.jp", "document_downloaded", {"document": "導入事例集.pdf"}, 19),
        ("alice.johnson@example.com", "page_viewed", {"url": "/pricing"}, 10),
        ("alice.johnson@example.com", "form_submitted", {"form_id": "demo-request"}, 9),
        ("oliver.smith@example.com", "page_viewed", {"url": "/blog/lead-scoring"}, 2),
    ]
    return [
        EventIn(
            type=kind,
            email=email,
            properties=properties,
            occurred_at=now - ago * hours,
            idempotency_key=f"demo:{n}",
        )
        for n, (email, kind, properties, ago) in enumerate(events)
    ]


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def _print_welcome(
    settings: Settings, host: str, port: int, capture: CaptureServer | None, api_key: str | None
) -> None:
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("API docs", f"{base}/docs")
    table.add_row("Health", f"{base}/api/health")
    if settings.embedded:
        table.add_row("Mailbox", f"{base}/admin/mailbox")
    if capture is not None:
        table.add_row("SMTP capture", capture.address)
    table.add_row("Database", _redacted(settings.resolved_database_url))
    table.add_row("Broker", describe_broker(settings))
    if settings.embedded:
        table.add_row("API key", f"in {settings.var_dir / API_KEY_FILE}")
    mode = "embedded" if settings.embedded else "all roles in one process"
    out.print(
        Panel(
            table,
            title=f"Nurture {version('nurture')} is running ({mode})",
            subtitle="Ctrl-C to stop",
            expand=False,
        )
    )
    if api_key is not None:
        out.print("Demo data added. Admin API key (shown once, saved in var/api-key):")
        out.print(f"API key: {api_key}")
    if host not in {"127.0.0.1", "localhost", "::1"}:
        err.print(
            f"[yellow]warning:[/] listening on {host}: the mailbox pages need no login; "
            "keep this port off untrusted networks"
        )


def _redacted(url: str) -> str:
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, _, userinfo = head.partition("://")
    user = userinfo.split(":")[0]
    return f"{scheme}://{user}:***@{tail}" if ":" in userinfo else url


def _listen(host: str, port: int) -> socket.socket:
    """Bind the HTTP port now, so a taken port fails before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use; choose another with --port")
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}")


def _require_broker(settings: Settings, role: str) -> None:
    if not settings.broker_url:
        fail(
            f"nurture {role} needs the Redis broker: set NURTURE_BROKER_URL=redis://host:6379/0 "
            f"(in embedded mode, nurture up runs the {role} inside its own process)"
        )


def _require_secret(settings: Settings) -> None:
    try:
        settings.signing_keys()
    except ConfigurationError as error:
        fail(error.message)


def _info(settings: Settings, queues: list[str]) -> dict[str, Any]:
    """What every heartbeat says about the process's configuration."""
    return {
        "version": version("nurture"),
        "mode": "embedded" if settings.embedded else "production",
        "broker": describe_broker(settings),
        "queues": queues,
    }


def _owner(identity: ProcessIdentity) -> str:
    # Unique even if a pid is reused on the host before an old lease lapses.
    return f"{identity.id}:{secrets.token_hex(4)}"


def _on_signals(handler: Callable[[], None]) -> None:
    """Call ``handler`` on SIGINT and SIGTERM (which then no longer kill the process)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: handler())


def _configure_logging(settings: Settings, role: str) -> None:
    """Log as ``NURTURE_LOG_FORMAT`` says, each line naming this process's role."""
    configure_logging(level=settings.log_level, fmt=settings.log_format, process=role)


def _uvicorn_log_config(settings: Settings, role: str) -> dict[str, Any]:
    """The same logging for uvicorn, which applies it in each of its worker processes too."""
    return dict_config(level=settings.log_level, fmt=settings.log_format, process=role)
