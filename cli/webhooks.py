"""``nurture webhooks``: the delivery list (dead letters), manual retries, the receiver secret."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.runtime import err, fail, load_settings, open_database, out, reported

app = typer.Typer(
    help="Outgoing webhooks: list deliveries, retry dead ones, show the signing secret.",
    no_args_is_help=True,
)

STATUSES = ("pending", "delivered", "dead")
KINDS = ("journey", "crm", "notify")


@app.command("list")
def list_deliveries(
    status: Annotated[
        str | None, typer.Option("--status", help="Only pending|delivered|dead.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only journey|crm|notify.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Rows to show.")] = 50,
) -> None:
    """List webhook deliveries, newest first (``--status dead``: the dead-letter list)."""
    from rich.markup import escape
    from rich.table import Table

    from engine.webhooks import service

    if status is not None and status not in STATUSES:
        fail(f"--status: unknown status '{status}'; choose {', '.join(STATUSES)}")
    if kind is not None and kind not in KINDS:
        fail(f"--kind: unknown kind '{kind}'; choose {', '.join(KINDS)}")
    database = open_database(load_settings())
    with database.sessions() as session:
        rows, following = service.list_deliveries(session, limit=limit, status=status, kind=kind)
        counts = service.count_by_status(session)
    database.dispose()
    summary = ", ".join(f"{s} {counts.get(s, 0):,}" for s in STATUSES)
    if not rows:
        err.print(f"no webhook deliveries to show ({summary})")
        return
    table = Table("id", "kind", "status", "attempts", "url", "last", "next attempt", "created")
    for r in rows:
        last = r.last_error or (f"HTTP {r.last_status}" if r.last_status else "-")
        table.add_row(
            str(r.id),
            r.kind,
            r.status,
            f"{r.attempts}/{r.max_attempts}",
            escape(r.url),
            escape(last[:80]),
            r.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if r.next_attempt_at else "-",
            r.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    out.print(table)
    more = " (more: raise --limit)" if following is not None else ""
    out.print(f"{summary}{more}")


@app.command("retry")
def retry(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id (from `webhooks list`).")],
) -> None:
    """Re-arm a dead delivery with the same webhook-id; the scheduler attempts it within seconds."""
    from engine.clock import utcnow
    from engine.webhooks import service

    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        row = service.retry_dead(session, delivery_id, now=utcnow())
    database.dispose()
    out.print(f"delivery {row.id} ({row.webhook_id}) to {row.url} is due again")


@app.command("secret")
def secret() -> None:
    """Print the ``whsec_`` secret receivers verify signatures with (one per signing key)."""
    from engine.webhooks.signing import receiver_secret

    settings = load_settings()
    with reported():
        keys = settings.signing_keys()
    for key in keys:
        typer.echo(receiver_secret(key))
