"""Tracking endpoints under ``wrk``, against nginx, FastAPI and bare ASGI; the consumer's rate.

Four servers answer the same two URLs on loopback, one process each: nginx (``empty_gif``
and ``return 302``, from a temporary config), a bare ASGI callable under uvicorn that
answers both and does nothing else (the ceiling of the server itself), a minimal FastAPI app
that returns the GIF and the redirect with no checks, and Nurture's tracking app
(``tracking.app:from_environment``) under uvicorn, which verifies the token, looks the click
target up (cached) and pushes each hit to a Redis stream, while a ``nurture worker`` ingests
the stream as it fills (ingestion running, as in production). ``wrk -t2 -c50 -d5s --latency``
loads each URL of each server; the figures are Nurture's requests per second as a ratio to
each baseline's (higher is better) and its p99 latency as a ratio to theirs (lower is
better).

Then, with the worker stopped, one more pixel load leaves a backlog that the ingest consumer
writes on its own (classification, one INSERT per batch, ``email_opened``/``email_clicked``
events); its rate is compared with a bare INSERT of the same number of tracking rows.

``NURTURE_BENCH_WRK_SECONDS`` (default 5) and ``NURTURE_BENCH_WRK_CONNECTIONS`` (50) size the
load; ``NURTURE_BENCH_REDIS_URL`` names the Redis server (an empty database on it is used).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import insert

from bench.latency import empty_redis_database, forget_broker, free_port
from bench.runner import Context, Figure, console, median, rate
from engine.clock import utcnow
from engine.store.models import Contact, Link, Message, TrackingEvent
from engine.store.models.base import table_of
from engine.tracking.buffer import RedisBuffer
from engine.tracking.tokens import click_token, open_token
from tracking.app import PIXEL
from workers.tracking import TrackingConsumer

SECRET = "bench-secret-" + "x" * 40
TARGET = "https://www.example.jp/pricing?utm_source=nurture&utm_medium=email"
UID = "benchmessage0001"
NGINX = """\
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /t/o/ {{ empty_gif; }}
        location /t/c/ {{ return 302 {target}; }}
    }}
}}
"""


def minimal_app() -> FastAPI:
    """The floor: FastAPI returning the pixel and a fixed redirect, no token, no buffer."""
    app = FastAPI()

    @app.get("/t/o/{token}.gif")
    async def pixel(token: str) -> Response:
        return Response(PIXEL, media_type="image/gif")

    @app.get("/t/c/{token}")
    async def click(token: str) -> RedirectResponse:
        return RedirectResponse(TARGET, status_code=302)

    return app


_BARE_HEADERS = [(b"content-type", b"image/gif"), (b"content-length", str(len(PIXEL)).encode())]
_BARE_REDIRECT = [(b"location", TARGET.encode()), (b"content-length", b"0")]


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ceiling of the server: a plain ASGI callable answering both URLs, doing nothing else."""
    if scope["type"] != "http":
        return
    if scope["path"].startswith("/t/c/"):
        await send({"type": "http.response.start", "status": 302, "headers": _BARE_REDIRECT})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": _BARE_HEADERS})
    await send({"type": "http.response.body", "body": PIXEL})


def run(context: Context) -> list[Figure]:
    """Load each server's pixel and click URLs, then drain the hits through the consumer."""
    missing = [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None]
    if missing:
        console.print(f"  installing {', '.join(missing)} from Debian's packages …")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", *missing],
            check=True,
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    seconds = int(os.environ.get("NURTURE_BENCH_WRK_SECONDS") or 5)
    connections = int(os.environ.get("NURTURE_BENCH_WRK_CONNECTIONS") or 50)
    database = context.database()
    keys = [SECRET.encode()]
    with database.unit_of_work() as session:
        now = utcnow()
        contact = Contact(
            email="bench.tracking@example.jp",
            attributes={},
            lifecycle_stage="lead",
            score=0,
            created_at=now,
            updated_at=now,
        )
        session.add(contact)
        session.flush()
        message = Message(
            uid=UID,
            message_id="<bench@nurture>",
            idempotency_key="bench-tracking",
            contact_id=contact.id,
            journey_id="bench",
            step_id="welcome",
            template="welcome",
            status="sent",
            queued_at=now - timedelta(hours=1),
            sent_at=now - timedelta(hours=1),
        )
        session.add(message)
        session.flush()
        session.add(Link(message_id=message.id, position=1, url=TARGET))
    paths = {
        "pixel": f"/t/o/{open_token(UID, keys)}.gif",
        "click": f"/t/c/{click_token(UID, 1, keys)}",
    }
    broker = empty_redis_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(
        NURTURE_DATABASE_URL=context.database_url,
        NURTURE_BROKER_URL=broker,
        NURTURE_SECRET_KEY=SECRET,
        NURTURE_VAR_DIR=str(context.folder / "var"),
        NURTURE_TRACKING_IP="full",
    )
    measured: dict[tuple[str, str], list[tuple[float, float]]] = {}
    worker = [str(Path(sys.executable).with_name("nurture")), "worker", "--processes", "1"]
    try:
        for server, port in _servers(context.folder, env):
            ingesting = (
                _process(worker, env, context.folder / "worker.log")
                if server == "nurture"
                else nullcontext()
            )
            with ingesting:
                for endpoint, path in paths.items():
                    url = f"http://127.0.0.1:{port}{path}"
                    _check(url, endpoint)
                    for _ in range(context.repeat):
                        measured.setdefault((server, endpoint), []).append(
                            wrk(url, seconds, connections)
                        )
            if server == "nurture":
                # With the worker stopped, one more load leaves a backlog for the consumer.
                wrk(f"http://127.0.0.1:{port}{paths['pixel']}", seconds, connections)
        figures = _figures(measured, context.repeat)
        figures.append(_consumer(context, broker))
    finally:
        forget_broker(broker)  # the stream, and the worker's queues and heartbeats
        database.dispose()
    return figures


_LABELS = {"nginx": "nginx", "fastapi": "fastapi", "asgi": "bare ASGI"}


def _figures(measured: dict[tuple[str, str], list[tuple[float, float]]], runs: int) -> list[Figure]:
    figures = []
    for endpoint in ("pixel", "click"):
        ours = measured[("nurture", endpoint)]
        ours_rate, ours_p99 = median([r for r, _ in ours]), median([p for _, p in ours])
        for baseline in ("nginx", "fastapi", "asgi"):
            theirs = measured[(baseline, endpoint)]
            figures += [
                Figure(
                    "tracking",
                    f"{endpoint}: requests/s, ingestion running",
                    "req/s",
                    ours_rate,
                    _LABELS[baseline],
                    median([r for r, _ in theirs]),
                    runs,
                ),
                Figure(
                    "tracking",
                    f"{endpoint}: p99 latency, ingestion running (lower is better)",
                    "ms",
                    ours_p99,
                    _LABELS[baseline],
                    median([p for _, p in theirs]),
                    runs,
                ),
            ]
    return figures


def _consumer(context: Context, broker: str) -> Figure:
    """Write the buffered hits through the consumer; compare with a bare INSERT as many rows."""
    database = context.database()
    buffer = RedisBuffer(broker, consumer="bench")
    consumer = TrackingConsumer(database, buffer)
    started = time.perf_counter()
    count = 0
    while taken := consumer.step(wait=0):
        count += taken
    ours = count / (time.perf_counter() - started)
    message_id = 1
    rows = [
        {
            "kind": "open",
            "message_id": message_id,
            "contact_id": None,
            "occurred_at": utcnow(),
            "classification": "human",
            "dedupe_key": f"bare-{i}",
        }
        for i in range(count)
    ]

    def bare() -> None:
        with database.unit_of_work() as session:
            for start in range(0, count, 1_000):
                session.execute(insert(table_of(TrackingEvent)), rows[start : start + 1_000])

    floor = rate(count, bare)
    buffer.close()
    database.dispose()
    console.print(
        f"  consumer wrote {count:,} buffered hits ({consumer.written:,} rows and events)"
    )
    return Figure(
        "tracking", f"consumer: {count:,} hits written", "hits/s", ours, "bare INSERT", floor, 1
    )


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _servers(folder: Path, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """Start each server in turn (so they never share the CPUs); yield its name and port."""
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(NGINX.format(folder=folder, port=port, target=TARGET), encoding="utf-8")
    nginx = ["nginx", "-p", str(folder), "-c", str(config)]
    with _process(nginx, env, folder / "nginx.log"):
        _wait(port)
        yield "nginx", port
    uvicorn = [sys.executable, "-m", "uvicorn", "--no-access-log"]
    uvicorn += ["--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]
    for name, app in (
        ("asgi", ["bench.tracking:bare_app"]),
        ("fastapi", ["--factory", "bench.tracking:minimal_app"]),
        ("nurture", ["--factory", "tracking.app:from_environment"]),
    ):
        port = free_port()
        command = [*uvicorn, "--host", "127.0.0.1", "--port", str(port), *app]
        with _process(command, env, folder / f"{name}.log"):
            _wait(port)
            yield name, port


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within 30 s")


def _check(url: str, endpoint: str) -> None:
    """Fail loudly if a server answers the URL wrongly: a fast 404 measures nothing."""
    answer = httpx.get(url, follow_redirects=False, timeout=5)
    expected = 200 if endpoint == "pixel" else 302
    if answer.status_code != expected:
        raise RuntimeError(f"{url} answered {answer.status_code}, not {expected}")


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    """Run ``wrk`` on ``url``; return requests per second and p99 latency (ms)."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(_find(r"Requests/sec:\s+([\d.]+)", out)), _milliseconds(
        _find(r"\n\s+99%\s+([\d.]+\w+)", out)
    )


def _find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"wrk output without {pattern!r}:\n{text}")
    return match.group(1)


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]
