"""``nurture status``: is the runtime keeping up? Processes, backlog, outbox and queues."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from rich.table import Table

from cli.runtime import load_settings, open_database, out

if TYPE_CHECKING:
    from engine.settings import Settings


def status() -> None:
    """Show live processes, due enrollments (and how late), pending outbox rows, queue depths."""
    from engine.clock import utcnow
    from engine.operations.heartbeat import live_processes
    from engine.runtime.stats import backlog

    settings = load_settings()
    database = open_database(settings)
    now = utcnow()
    with database.sessions() as session:
        processes = live_processes(session, now=now)
        figures = backlog(session, now=now)
    mode = "embedded" if settings.embedded else "production"
    out.print(f"[bold]Nurture[/] ({mode}) — database {database.engine.url.render_as_string()}")
    table = Table("role", "process", "seen", "up since", title="Processes (seen in the last 30 s)")
    for p in processes:
        table.add_row(
            p.role, p.id, f"{_ago(now - p.seen_at)} ago", p.started_at.strftime("%Y-%m-%d %H:%M")
        )
    if not processes:
        table.add_row("-", "no process has reported in the last 30 s", "", "")
    out.print(table)
    late = _ago(figures.oldest_due_age) if figures.oldest_due_age is not None else "-"
    out.print(
        f"enrollments: {figures.live:,} live, {figures.due:,} due now (oldest due {late} ago)"
    )
    pending = ", ".join(f"{t} {n:,}" for t, n in sorted(figures.outbox_pending.items())) or "none"
    out.print(f"outbox pending: {pending}")
    out.print(f"queues: {_queue_depths(settings)}")


def _queue_depths(settings: Settings) -> str:
    from dramatiq.brokers.redis import RedisBroker

    from workers import actors  # noqa: F401 - declares the queues
    from workers.broker import build_broker

    broker = build_broker(settings)
    try:
        if not isinstance(broker, RedisBroker):
            return "in-process broker (its queues live inside `nurture up`)"
        depths = {q: broker.do_qsize(q) for q in sorted(broker.get_declared_queues())}
    finally:
        broker.close()
    return ", ".join(f"{q} {n:,}" for q, n in depths.items())


def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
