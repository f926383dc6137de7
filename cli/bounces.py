"""``nurture bounces``: run the inbound bounce receiver, parse or import bounce files."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.runtime import fail, load_settings, open_database, out, reported

if TYPE_CHECKING:
    from engine.bounces.receiver import BounceReceiver
    from engine.settings import Settings
    from engine.store.db import Database

app = typer.Typer(help="Bounces and complaints: receive by SMTP, parse or import files.")

Files = Annotated[list[Path], typer.Argument(help="Raw RFC 5322 messages (.eml).")]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        fail(f"{path}: {error.strerror or error}")


@app.command("parse")
def parse(
    files: Files,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per verdict.")] = False,
) -> None:
    """Print each file's verdicts (recipient, hard/soft/complaint, reason) without storing."""
    from engine.bounces.parse import parse_bytes

    for path in files:
        parsed = parse_bytes(_read(path))
        if not parsed.verdicts and not as_json:
            out.print(f"{path}: no bounce, complaint or auto-reply found", markup=False)
        for verdict in parsed.verdicts:
            if as_json:
                out.print(
                    json.dumps({"file": str(path), **asdict(verdict)}, ensure_ascii=False),
                    markup=False,
                )
            else:
                out.print(
                    f"{path}: {verdict.recipient or '?'}  {verdict.kind:<10} {verdict.reason:<14}"
                    f" {verdict.status or '-':<8} {verdict.diagnostic[:100]}",
                    markup=False,
                )


@app.command("import")
def import_files(files: Files) -> None:
    """Store and act on each file as if it had arrived by SMTP (suppressions, timeline)."""
    from engine.bounces.service import receive, soft_limit_of
    from engine.clock import utcnow

    settings = load_settings()
    database = open_database(settings)
    limit = soft_limit_of(settings.soft_bounce_limit, settings.soft_bounce_window_days)
    with reported():
        for path in files:
            raw = _read(path)
            with database.unit_of_work() as session:
                outcome = receive(session, raw, source="file", now=utcnow(), soft_limit=limit)
            suppressed = ", ".join(f"{a} ({r})" for a, r in outcome.suppressed.items()) or "-"
            out.print(
                f"{path}: {len(outcome.verdicts)} verdict(s), {outcome.recorded} recorded, "
                f"{outcome.duplicates} already known, suppressed: {suppressed}",
                markup=False,
            )


def receiver_for(settings: Settings, database: Database, host: str, port: int) -> BounceReceiver:
    """Build the bounce receiver from settings and start it; exit naming the port if taken."""
    from engine.bounces.receiver import BounceHandler, BounceReceiver
    from engine.bounces.service import soft_limit_of
    from engine.email.compose import MailIdentity

    handler = BounceHandler(
        database,
        bounce_domain=MailIdentity.from_settings(settings).bounce_domain,
        fbl_addresses=settings.fbl_addresses,
        soft_limit=soft_limit_of(settings.soft_bounce_limit, settings.soft_bounce_window_days),
    )
    receiver = BounceReceiver(handler, host=host, port=port)
    with reported():
        receiver.start()
    return receiver


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(help="SMTP port (25 behind an MX record).")] = 2526,
) -> None:
    """Receive bounces and feedback-loop reports by SMTP until interrupted."""
    settings = load_settings()
    receiver = receiver_for(settings, open_database(settings), host, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    out.print(
        f"receiving bounces for bounces+*@{receiver.handler.bounce_domain} "
        f"on {host}:{receiver.port}",
        markup=False,
    )
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
