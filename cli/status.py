"""``nurture status``: is the runtime keeping up? Processes, backlog, outbox and queues.

The figures are ``engine.operations.health.runtime_report``'s, the same report
``GET /api/health/runtime`` returns; ``--json`` prints that document as is.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cli.runtime import load_settings, open_database, out

if TYPE_CHECKING:
    import dramatiq

    from engine.operations.health import RuntimeProbes, RuntimeReport
    from engine.settings import Settings


def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (as GET /api/health/runtime).")
    ] = False,
) -> None:
    """Show live processes, due enrollments (and how late), pending outbox rows, queue depths."""
    from engine.clock import utcnow
    from engine.operations.health import runtime_report

    settings = load_settings()
    database = open_database(settings)
    broker = _broker(settings)
    try:
        with database.sessions() as session:
            report = runtime_report(session, now=utcnow(), probes=runtime_probes(settings, broker))
    finally:
        if broker is not None:
            broker.close()
        database.dispose()
    if as_json:
        typer.echo(json.dumps(report.document(), indent=2, ensure_ascii=False))
        return
    mode = "embedded" if settings.embedded else "production"
    out.print(f"[bold]Nurture[/] ({mode}) — database {database.engine.url.render_as_string()}")
    _print_report(report)


def runtime_probes(settings: Settings, broker: dramatiq.Broker | None) -> RuntimeProbes:
    """What a health report needs from this process: its broker's queues, the consumed topics.

    ``broker`` None: the queues are not visible here (embedded mode's live inside ``nurture up``).
    """
    from engine.operations.health import RuntimeProbes
    from workers.broker import describe_broker
    from workers.relay import HANDLERS

    return RuntimeProbes(
        broker=describe_broker(settings),
        queue_depths=None if broker is None else lambda: queue_depths(broker),
        consumed_topics=HANDLERS.keys(),
    )


def queue_depths(broker: dramatiq.Broker) -> dict[str, int]:
    """Messages per declared queue, waiting, delayed or in progress."""
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.common import dq_name

    from workers import actors, delivery, email  # noqa: F401 - they declare the queues

    if isinstance(broker, RedisBroker):
        return {q: int(broker.do_qsize(q)) for q in sorted(broker.get_declared_queues())}
    queues = broker.queues  # the in-process StubBroker: Queue objects, delayed ones apart
    return {
        name: queues[name].unfinished_tasks + queues[dq_name(name)].unfinished_tasks
        for name in sorted(queues)
        if dq_name(name) in queues
    }


def _broker(settings: Settings) -> dramatiq.Broker | None:
    """The Redis broker to read queue depths from; None for embedded mode's in-process one."""
    if not settings.broker_url:
        return None
    from workers.broker import build_broker

    return build_broker(settings)


def _print_report(report: RuntimeReport) -> None:
    now = report.checked_at
    table = Table("role", "process", "seen", "up since", title="Processes (seen in the last 30 s)")
    leader = report.leader
    for p in report.processes:
        role = f"{p.role} (leader)" if leader is not None and p.id == leader.id else p.role
        table.add_row(
            role, p.id, f"{_ago(now - p.seen_at)} ago", p.started_at.strftime("%Y-%m-%d %H:%M")
        )
    if not report.processes:
        table.add_row("-", "no process has reported in the last 30 s", "", "")
    out.print(table)
    figures = report.backlog
    late = _ago(figures.oldest_due_age) if figures.oldest_due_age is not None else "-"
    out.print(
        f"enrollments: {figures.live:,} live, {figures.due:,} due now (oldest due {late} ago)"
    )
    pending = ", ".join(
        f"{t} {n:,} (oldest {_ago(figures.outbox_oldest_age[t])})"
        for t, n in sorted(figures.outbox_pending.items())
    )
    out.print(f"outbox pending: {pending or 'none'}")
    out.print(f"queues: {_queues(report)}")
    probe = report.last_probe
    if probe is not None:
        out.print(
            f"last probe: {probe[1].get('latency_ms')} ms in the queue, taken by {probe[0].id}"
        )
    errors = report.errors
    out.print(
        f"failures: messages {errors.messages_failed_5m:,} (5 min), "
        f"{errors.messages_failed_60m:,} (60 min); webhooks dead {errors.webhooks_dead:,} "
        f"({errors.webhooks_dead_60m:,} created in the last hour); "
        f"outbox rows retrying {errors.outbox_retrying:,}"
    )
    if report.reasons:
        out.print("[bold yellow]degraded:[/] " + "; ".join(report.reasons))
    else:
        out.print("[bold green]ok[/]")


def _queues(report: RuntimeReport) -> str:
    if report.broker_error is not None:
        return f"{report.broker} does not answer: {report.broker_error}"
    if report.queues is None:
        return "in-process broker (its queues live inside `nurture up`)"
    return ", ".join(f"{q} {n:,}" for q, n in report.queues.items()) or "none declared"


def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
