"""``nurture segments``: check, store, list and preview the segments in journeys/segments/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.runtime import err, fail, load_settings, open_database, out, reported

app = typer.Typer(help="Segments: who belongs, written in the journey condition language.")

FolderOption = Annotated[
    Path | None,
    typer.Option("--folder", help="Segment files (default: NURTURE_JOURNEYS_DIR/segments)."),
]


def _folder(folder: Path | None) -> Path:
    from engine.segments.definitions import segments_folder

    return folder if folder is not None else segments_folder(load_settings().journeys_dir)


@app.command("check")
def check(folder: FolderOption = None) -> None:
    """Check every segment file; print findings as file:line:col and exit 1 if any."""
    from engine.segments.definitions import read_segments

    files, diagnostics = read_segments(_folder(folder))
    for diagnostic in diagnostics:
        err.print(diagnostic.format(), markup=False)
    if diagnostics:
        raise typer.Exit(1)
    out.print(f"{len(files)} segment(s) OK")


@app.command("sync")
def sync(
    folder: FolderOption = None,
    prune: Annotated[bool, typer.Option(help="Delete stored segments whose file is gone.")] = False,
    reconcile_now: Annotated[
        bool,
        typer.Option(
            "--reconcile/--no-reconcile",
            help="Evaluate new and changed segments now (else the scheduler does, within a minute).",
        ),
    ] = True,
) -> None:
    """Store the segment files; nothing is stored if any file has a finding."""
    from engine.clock import utcnow
    from engine.segments.definitions import sync_segments
    from engine.segments.membership import reconcile

    settings = load_settings()
    database = open_database(settings)
    now = utcnow()
    with reported(), database.unit_of_work() as session:
        report = sync_segments(session, _folder(folder), now=now, prune=prune)
    for diagnostic in report.diagnostics:
        err.print(diagnostic.format(), markup=False)
    if not report.ok:
        fail("nothing was stored; fix the findings above")
    for label, ids in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("removed", report.removed),
    ):
        if ids:
            out.print(f"{label}: {', '.join(ids)}")
    changed = report.created + report.updated
    if reconcile_now and changed:
        moved = reconcile(database, now=now, segment_ids=changed)
        out.print(f"evaluated {len(changed)} segment(s): {moved:,} membership change(s)")


@app.command("list")
def list_segments() -> None:
    """List stored segments with their member counts."""
    from rich.table import Table

    from engine.segments.definitions import segment_summaries

    database = open_database(load_settings())
    with database.unit_of_work() as session:
        summaries = segment_summaries(session)
    table = Table("id", "name", "members", "evaluated")
    for segment in summaries:
        when = segment.reconciled_at
        shown = when.isoformat(timespec="seconds") if when else "pending"
        table.add_row(segment.id, segment.name, f"{segment.members:,}", shown)
    out.print(table)


@app.command("preview")
def preview(
    segment: Annotated[str, typer.Argument(help="A segment file, or a stored segment's id.")],
    sample: Annotated[int, typer.Option(help="How many matching contacts to show.")] = 10,
) -> None:
    """Count and sample who a segment matches now, without storing anything."""
    from sqlalchemy import select

    from engine.clock import utcnow
    from engine.segments import count_matching, sample_matching
    from engine.segments.definitions import CONDITIONS, get_segment, read_segment
    from engine.store.models import Contact

    path = Path(segment)
    database = open_database(load_settings())
    now = utcnow()
    with reported(), database.unit_of_work() as session:
        if path.suffix in {".yaml", ".yml"}:
            found, diagnostics = read_segment(path)
            for diagnostic in diagnostics:
                err.print(diagnostic.format(), markup=False)
            if found is None:
                raise typer.Exit(1)
            condition = found.spec.condition
        else:
            row = get_segment(session, segment)
            condition = CONDITIONS.all(session)[row.id]
        total = count_matching(session, condition, now)
        ids = sample_matching(session, condition, now, sample)
        people = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))}
    out.print(f"{total:,} contact(s) match")
    for contact_id in ids:
        contact = people[contact_id]
        name = " ".join(p for p in (contact.last_name, contact.first_name) if p)
        out.print(f"  {contact.email}  {name}", markup=False)
