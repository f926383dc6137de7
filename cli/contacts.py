"""``nurture contacts import|export``: contacts in and out as CSV files."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.runtime import err, fail, load_settings, open_database, out
from engine.contacts.schemas import ConsentIn
from engine.errors import InvalidInput, NurtureError
from engine.store.db import Database

if TYPE_CHECKING:  # pandas loads with these; commands import them when they run
    from engine.contacts.csv_export import ExportFilter, ExportResult
    from engine.contacts.csv_import import ImportResult

app = typer.Typer(help="Contacts: import and export CSV files.", no_args_is_help=True)

#: Problems printed to the terminal; ``--errors FILE`` keeps them all.
SHOWN_PROBLEMS = 100
EXIT_BAD_ROWS = 1
EXIT_UNREADABLE = 2


@app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="CSV file: UTF-8 (with or without BOM) or cp932.")],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=FIELD, COLUMN=attributes.PATH or COLUMN=- (ignore); repeatable.",
        ),
    ] = None,
    encoding: Annotated[
        str, typer.Option(help="auto (UTF-8 or cp932), utf-8, cp932 or any Python codec.")
    ] = "auto",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Add this tag to every row; repeatable.")
    ] = None,
    list_key: Annotated[
        str | None, typer.Option("--list", help="Add every row to this static list (created).")
    ] = None,
    consent: Annotated[
        str | None, typer.Option(help="Record consent to this topic (e.g. marketing_email).")
    ] = None,
    consent_text: Annotated[
        str | None, typer.Option(help="The words the contacts agreed to (needed with --consent).")
    ] = None,
    consent_source: Annotated[
        str | None, typer.Option(help="Where consent was given; default: csv_import:FILE.")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check every row; write nothing.")] = False,
    errors: Annotated[
        Path | None, typer.Option(help="Write the bad rows here, with an 'error' column.")
    ] = None,
    max_errors: Annotated[
        int | None, typer.Option(help="Stop after this many bad rows (imported batches stay).")
    ] = None,
    batch_size: Annotated[int, typer.Option(hidden=True)] = 5_000,
) -> None:
    """Import contacts from CSV; bad rows are reported by line and the good ones imported.

    Exit status: 0 all rows imported, 1 some rows bad, 2 the file cannot be read.
    """
    from engine.contacts.csv_import import ImportOptions, import_contacts

    options = ImportOptions(
        encoding=encoding,
        overrides=_mapping(map_ or []),
        tags=tuple(tag or ()),
        list_key=list_key,
        consent=_consent(file, consent, consent_text, consent_source),
        dry_run=dry_run,
        max_errors=max_errors,
        batch_size=batch_size,
        errors_path=errors,
    )
    database = open_database(load_settings())
    try:
        with _progress() as progress:
            task = progress.add_task("importing", total=1.0, rate="")
            started = time.perf_counter()

            def advance(rows: int, fraction: float) -> None:
                rate = rows / max(time.perf_counter() - started, 1e-6)
                progress.update(task, completed=fraction, rate=f"{rows:,} rows, {rate:,.0f} rows/s")

            result = import_contacts(database, file, options, progress=advance)
    except InvalidInput as error:
        _fail_with(error, f"{file}: ", code=EXIT_UNREADABLE)
    except NurtureError as error:
        _fail_with(error, "", code=EXIT_BAD_ROWS)
    finally:
        database.dispose()
    _report(result, errors)
    if result.errors or result.stopped_at_line is not None:
        raise typer.Exit(EXIT_BAD_ROWS)


@app.command("export")
def export_csv(
    target: Annotated[str, typer.Argument(metavar="FILE|-", help="CSV file, or - for stdout.")],
    encoding: Annotated[
        str, typer.Option(help="utf-8-sig (UTF-8 with BOM, for Excel), utf-8 or cp932.")
    ] = "utf-8-sig",
    stage: Annotated[str | None, typer.Option(help="Only this lifecycle stage.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only contacts with this tag.")] = None,
    updated_since: Annotated[
        str | None,
        typer.Option(help="Only contacts updated at or after: 2026-11-01 (UTC) or ISO 8601."),
    ] = None,
) -> None:
    """Export contacts to CSV, attributes as dotted columns; `nurture contacts import` reads it."""
    from engine.contacts.csv_export import ExportFilter, export_contacts

    where = ExportFilter(
        lifecycle_stage=stage,
        tag=tag,
        updated_since=_since(updated_since) if updated_since else None,
    )
    database = open_database(load_settings())
    try:
        if target == "-":
            result = export_contacts(database, sys.stdout.buffer, where=where, encoding=encoding)
        else:
            result = _export_to_file(database, Path(target), where, encoding)
    except NurtureError as error:
        _fail_with(error, "", code=EXIT_BAD_ROWS)
    finally:
        database.dispose()
    err.print(f"exported {result.rows:,} contacts ({len(result.columns)} columns) to {target}")


def _export_to_file(
    database: Database, path: Path, where: ExportFilter, encoding: str
) -> ExportResult:
    from engine.contacts.csv_export import export_contacts

    """Write next to ``path`` and rename, so a failed export leaves no half file behind."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".csv.part")
    try:
        with os.fdopen(handle, "wb") as stream:
            result = export_contacts(database, stream, where=where, encoding=encoding)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return result


def _mapping(entries: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for entry in entries:
        column, sep, target = entry.rpartition("=")
        if not sep or not column.strip():
            fail(
                f"--map {entry!r}: write COLUMN=FIELD, COLUMN=attributes.PATH or COLUMN=-",
                code=EXIT_UNREADABLE,
            )
        mapping[column] = target
    return mapping


def _consent(
    file: Path, topic: str | None, text: str | None, source: str | None
) -> ConsentIn | None:
    if topic is None:
        if text or source:
            fail("--consent-text and --consent-source need --consent TOPIC", code=EXIT_UNREADABLE)
        return None
    if not text:
        fail(
            "--consent needs --consent-text: the words the contacts agreed to are the proof",
            code=EXIT_UNREADABLE,
        )
    try:
        return ConsentIn(
            topic=topic, granted=True, text=text, source=source or f"csv_import:{file.name}"[:100]
        )
    except ValidationError as error:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
        fail(f"--consent: {problems}", code=EXIT_UNREADABLE)


def _since(text: str) -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--updated-since {text!r}: write 2026-11-01 or 2026-11-01T09:00:00+09:00")
    if moment.tzinfo is None:
        fail(f"--updated-since {text!r}: add a time zone offset, for example +09:00 or Z")
    return moment


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _fail_with(error: NurtureError, prefix: str, *, code: int) -> NoReturn:
    details = "".join(f"\n  {escape(p.field)}: {escape(p.message)}" for p in error.problems)
    fail(f"{escape(prefix + error.message)}{details}", code=code)


def _report(result: ImportResult, errors_path: Path | None) -> None:
    """Print problems like a compiler (FILE:LINE: field: message), then the summary."""
    for note in result.notes:
        err.print(f"note: {escape(note)}")
    shown = sorted(result.problems, key=lambda p: (p.line, p.warning))[:SHOWN_PROBLEMS]
    for p in shown:
        where = f"{result.source}:{p.line}: " + ("warning: " if p.warning else "")
        err.print(escape(where + (f"{p.field}: " if p.field else "") + p.message))
    hidden = len(result.problems) - len(shown)
    if hidden:
        hint = f"; all are in {errors_path}" if errors_path else "; see them all with --errors FILE"
        err.print(f"... and {hidden:,} more{escape(hint)}")
    if result.stopped_at_line is not None:
        err.print(f"stopped at line {result.stopped_at_line}: no row from there on was imported")
    title = f"{result.source} ({result.encoding})" + (
        " — dry run, nothing written" if result.dry_run else ""
    )
    table = Table(title=title, show_header=False)
    verb = "would be " if result.dry_run else ""
    table.add_row("rows read", f"{result.rows_read:,}")
    table.add_row(f"{verb}created", f"{result.created:,}")
    table.add_row(f"{verb}updated", f"{result.updated:,}")
    table.add_row("skipped (bad)", f"{result.skipped:,}")
    table.add_row("warnings", f"{len(result.warnings):,}")
    out.print(table)
    if errors_path and result.errors:
        err.print(f"bad rows written to {escape(str(errors_path))}: fix them and import that file")
