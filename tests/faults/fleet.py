"""Real processes for fault tests: ``nurture`` roles, a Redis server of the test's own, helpers.

Every process a test starts is stopped by the test (``Fleet.stop``, ``RedisServer.stop``);
none is shared with other tests, so killing one harms nobody else.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import func, select

from engine.clock import utcnow
from engine.runtime.topics import ROUTE_EVENTS
from engine.store.db import Database
from engine.store.models import (
    Contact,
    ContactTag,
    Enrollment,
    Message,
    OutboxMessage,
    ScoreChange,
)
from tests.conftest import TEST_SECRET
from tests.publishing import publish_source

NURTURE = Path(sys.executable).with_name("nurture")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fleet_env(database_url: str, broker_url: str, var: Path, **extra: str) -> dict[str, str]:
    """The environment of production-mode processes on this database and broker."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")},
        "NURTURE_DATABASE_URL": database_url,
        "NURTURE_BROKER_URL": broker_url,
        "NURTURE_REDIS_URL": broker_url,
        "NURTURE_SECRET_KEY": TEST_SECRET,
        "NURTURE_VAR_DIR": str(var),
        "NURTURE_SMTP_URL": "",
        "NURTURE_LOG_LEVEL": "WARNING",
        **extra,
    }


@dataclass
class Fleet:
    """The subprocesses of one run; every one started is stopped at the end."""

    env: dict[str, str]
    logs: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    schedulers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{args[0]}-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [str(NURTURE), *args],
            env=self.env,
            cwd=self.logs,  # no stray .env is read
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started.append(process)
        return process

    def start_worker(self, threads: int = 4) -> subprocess.Popen[bytes]:
        worker = self.start("worker", "--processes", "1", "--threads", str(threads))
        self.workers.append(worker)
        return worker

    def start_scheduler(self) -> subprocess.Popen[bytes]:
        scheduler = self.start("scheduler")
        self.schedulers.append(scheduler)
        return scheduler

    def start_api(self, port: int, *, timeout: float = 30) -> subprocess.Popen[bytes]:
        """Start ``nurture api`` and wait until ``/api/health`` answers 200."""
        api = self.start("api", "--host", "127.0.0.1", "--port", str(port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    return api
            except httpx.HTTPError:
                pass
            if api.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"nurture api did not become healthy\n{self.tails()}")

    def kill(self, group: list[subprocess.Popen[bytes]], label: str) -> None:
        victim = random.choice(group)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        group.remove(victim)
        self.kills.append(f"{label} {victim.pid}")

    def alive(self) -> bool:
        """True while every process started and not killed on purpose still runs."""
        return all(p.poll() is None for p in self.started if p.returncode != -signal.SIGKILL)

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def tails(self, lines: int = 15) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            body = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(body))
        return "\n".join(parts)


class RedisServer:
    """A ``redis-server`` of one test, on a free loopback port, keeping nothing on disk.

    ``kill`` loses every queued message, as a crashed broker without persistence does;
    ``start`` again brings it back, empty, on the same port.
    """

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """The broker URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        """Start the server and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = (self.directory / f"redis-{self.starts}.log").open("wb")
        options = {
            "bind": "127.0.0.1",
            "port": str(self.port),
            "save": "",  # nothing on disk: a restart starts empty
            "appendonly": "no",
            "dir": str(self.directory),
        }
        self.process = subprocess.Popen(
            ["redis-server", *(arg for k, v in options.items() for arg in (f"--{k}", v))],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL the server: every message it held is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server for good (at the end of the test)."""
        self.kill()
        self.process = None


def publish(database: Database, source: str) -> None:
    """Make the journey in ``source`` active, as a deploy would."""
    with database.unit_of_work() as session:
        publish_source(session, source, now=utcnow())


def count(database: Database, model: Any, *where: Any) -> int:
    """Rows of ``model`` matching ``where``."""
    with database.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def settling(database: Database) -> tuple[int, int, int]:
    """(enrollments, exited ones, events.route outbox rows not done yet)."""
    return (
        count(database, Enrollment),
        count(database, Enrollment, Enrollment.status == "exited"),
        count(
            database,
            OutboxMessage,
            OutboxMessage.topic == ROUTE_EVENTS,
            OutboxMessage.done_at.is_(None),
        ),
    )


def assert_each_action_ran_once(database: Database, n: int, *, exit_reason: str, tag: str) -> None:
    """``n`` contacts, one enrollment each, exited with ``exit_reason``; per contact one
    message, one +1 score (with its change row) and the tag ``tag``: nothing lost or repeated.
    """
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == n
        per_contact = session.execute(
            select(Enrollment.contact_id, func.count())
            .group_by(Enrollment.contact_id)
            .having(func.count() != 1)
        ).all()
        assert per_contact == [], "contacts with other than one enrollment"
        reasons = dict(
            session.execute(
                select(Enrollment.exit_reason, func.count()).group_by(Enrollment.exit_reason)
            ).all()
        )
        assert reasons == {exit_reason: n}
        assert session.scalar(select(func.count()).select_from(Message)) == n
        assert session.scalar(select(func.count(func.distinct(Message.enrollment_id)))) == n
        scores = dict(
            session.execute(select(Contact.score, func.count()).group_by(Contact.score)).all()
        )
        assert scores == {1: n}, "each contact's +1 applied exactly once"
        assert session.scalar(select(func.count()).select_from(ScoreChange)) == n
        tags = session.execute(
            select(
                ContactTag.tag, func.count(), func.count(func.distinct(ContactTag.contact_id))
            ).group_by(ContactTag.tag)
        ).all()
        assert [tuple(t) for t in tags] == [(tag, n, n)]
