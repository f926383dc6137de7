"""The ``nurture`` command: the composition root that wires settings, database and faces."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import access, contacts, journeys, processes, segments, status, why
from cli import analytics as analytics_cli
from cli import bench as bench_cli
from cli import bounces as bounces_cli
from cli import broadcasts as broadcasts_cli
from cli import dkim as dkim_cli
from cli import handoffs as handoffs_cli
from cli import lists as lists_cli
from cli import scoring as scoring_cli
from cli import sites as sites_cli
from cli import templates as templates_cli
from cli import webhooks as webhooks_cli
from cli.runtime import fail, load_settings, out, reported
from engine.store.db import Database
from engine.store.migrate import current_revision, downgrade, head_revision, upgrade

app = typer.Typer(
    name="nurture",
    help="Nurture: marketing automation — journeys, segmented mail, tracking, scoring, handoff.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db, name="db")
app.add_typer(access.users, name="users")
app.add_typer(access.apikeys, name="apikeys")
# -- feature sub-commands (one line each) --
app.add_typer(journeys.app, name="journeys")
app.command("up")(processes.up)
app.command("api")(processes.api)
app.command("worker")(processes.worker)
app.command("scheduler")(processes.scheduler)
contacts.app.command("why")(why.why)
app.add_typer(contacts.app, name="contacts")
app.command("bench")(bench_cli.bench)
app.command("status")(status.status)
app.add_typer(segments.app, name="segments")
app.add_typer(webhooks_cli.app, name="webhooks")
app.add_typer(sites_cli.app, name="sites")
app.add_typer(templates_cli.app, name="templates")
app.add_typer(dkim_cli.app, name="dkim")
app.add_typer(scoring_cli.app, name="scoring")
app.add_typer(handoffs_cli.app, name="handoffs")
app.add_typer(analytics_cli.app, name="analytics")
app.add_typer(lists_cli.app, name="lists")
app.add_typer(broadcasts_cli.app, name="broadcasts")
app.add_typer(bounces_cli.app, name="bounces")
# -- end of feature sub-commands --


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to this version's schema (safe to run again)."""
    settings = load_settings()
    database = Database.from_settings(settings)
    with reported():
        before = current_revision(database.engine)
        upgrade(database.engine)
        after = current_revision(database.engine)
    out.print(
        f"database at migration {after}"
        + ("" if before == after else f" (was {before or 'empty'})")
    )


@db.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target migration id, or 'base' for empty")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: dropped tables lose their data")
    ] = False,
) -> None:
    """Migrate back to an earlier schema (for rolling back a release)."""
    if not yes:
        fail("downgrading drops the tables and columns added since; add --yes to confirm")
    database = Database.from_settings(load_settings())
    with reported():
        downgrade(database.engine, revision)
    out.print(f"database at migration {current_revision(database.engine) or 'none (empty)'}")


@db.command("status")
def db_status() -> None:
    """Show the database's migration and the one this code needs."""
    database = Database.from_settings(load_settings())
    current, head = current_revision(database.engine), head_revision(database.engine)
    out.print(
        f"database: {database.engine.url.render_as_string()}\nmigration: {current or 'none'} (code needs {head})"
    )
    if current != head:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
