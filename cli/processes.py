"""``nurture up``, ``api``, ``worker`` and ``scheduler``: the process roles.

The commands only parse options; ``cli.serve`` (FastAPI, uvicorn, dramatiq) is imported when
a process actually starts, so every other command starts quickly.
"""

from __future__ import annotations

from typing import Annotated

import typer

HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int, typer.Option(help="Port to listen on.")]


def up(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """Run everything in one process: API, admin, tracking, worker, scheduler, SMTP capture."""
    from cli import serve

    serve.run_up(host, port)


def api(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    workers: Annotated[int, typer.Option(min=1, help="HTTP worker processes.")] = 1,
) -> None:
    """Serve the HTTP API, admin and tracking (production: the schema must be current)."""
    from cli import serve

    serve.run_api(host, port, workers)


def worker(
    processes: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    threads: Annotated[int, typer.Option(min=1, help="Threads per process.")] = 8,
    queues: Annotated[
        list[str] | None,
        typer.Option(
            "--queues", "-Q", help="Queues to consume (repeat or comma-separate); default all."
        ),
    ] = None,
) -> None:
    """Process messages from the Redis broker until SIGTERM, finishing work in progress."""
    from cli import serve

    serve.run_workers(processes, threads, queues)


def scheduler() -> None:
    """Run periodic sweeps; of many scheduler processes one leads and the others stand by."""
    from cli import serve

    serve.run_scheduler()
