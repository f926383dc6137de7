"""``nurture broadcasts``: create, list, show, send and cancel one-off campaigns."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.runtime import err, fail, load_settings, open_database, out, reported

app = typer.Typer(help="Broadcasts: one-off campaigns to a segment or tag, with A/B tests.")


@app.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="A broadcast file (journeys/broadcasts/ID.yaml).")],
) -> None:
    """Check a broadcast file and store it as a draft (scheduled if it sets send_at)."""
    from engine.broadcasts.service import create_broadcast, read_broadcast
    from engine.clock import utcnow

    spec, source, diagnostics = read_broadcast(file)
    for diagnostic in diagnostics:
        err.print(diagnostic.format(), markup=False)
    if spec is None:
        raise typer.Exit(1)
    settings = load_settings()
    _check_templates(settings.templates_dir, file, spec)
    database = open_database(settings)
    with reported(), database.unit_of_work() as session:
        broadcast = create_broadcast(session, spec, source=source, now=utcnow())
        status = broadcast.status
    out.print(f"{spec.id}: {status}")


def _check_templates(folder: Path, file: Path, spec: object) -> None:
    from engine.broadcasts.spec import BroadcastSpec
    from engine.email.templates import TemplateError, TemplateStore

    assert isinstance(spec, BroadcastSpec)
    names = {spec.template} | {
        v.template for v in (spec.ab.variants if spec.ab else []) if v.template
    }
    store = TemplateStore(folder)
    for name in sorted(names):
        try:
            store.get(name)
        except TemplateError as error:
            fail(f"{file}: template {name}: {error.message}")


@app.command("list")
def list_all() -> None:
    """List broadcasts, newest first."""
    from rich.table import Table

    from engine.broadcasts.service import list_broadcasts

    database = open_database(load_settings())
    with database.sessions() as session:
        rows = list_broadcasts(session)
    table = Table("id", "name", "status", "send at", "winner")
    for b in rows:
        when = b.send_at.isoformat(timespec="seconds") if b.send_at else ""
        table.add_row(b.id, b.name, b.status, when, b.winner or "")
    out.print(table)


@app.command("show")
def show(broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id.")]) -> None:
    """Print a broadcast, its message counts and any A/B result, as JSON."""
    from engine.broadcasts.service import show_broadcast

    database = open_database(load_settings())
    with reported(), database.sessions() as session:
        view = show_broadcast(session, broadcast_id).to_dict()
    out.print_json(json.dumps(view, ensure_ascii=False))


@app.command("send")
def send(
    broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id.")],
    at: Annotated[
        datetime | None,
        typer.Option("--at", help="When to start, ISO 8601 with an offset (default: now)."),
    ] = None,
) -> None:
    """Schedule a draft; the scheduler starts it when due."""
    from engine.broadcasts.service import send_broadcast
    from engine.clock import utcnow

    if at is not None and at.tzinfo is None:
        fail("--at needs a UTC offset, like 2026-12-01T09:00:00+09:00")
    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        broadcast = send_broadcast(session, broadcast_id, at=at, now=utcnow())
        when = broadcast.send_at.isoformat(timespec="seconds") if broadcast.send_at else ""
    out.print(f"{broadcast_id}: scheduled for {when}")


@app.command("cancel")
def cancel(broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id.")]) -> None:
    """Cancel a broadcast; messages not yet sent are skipped."""
    from engine.broadcasts.service import cancel_broadcast
    from engine.clock import utcnow

    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        cancel_broadcast(session, broadcast_id, now=utcnow())
    out.print(f"{broadcast_id}: cancelled")
