"""``nurture journeys enroll`` and ``remove``: put contacts in a journey, or take them out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.runtime import fail, load_settings, open_database, out, reported

if TYPE_CHECKING:
    from engine.journey.conditions import Condition
    from engine.store.db import Database

Emails = Annotated[
    list[str] | None, typer.Option("--email", "-e", help="A contact's email (repeatable).")
]
EmailsFile = Annotated[
    Path | None, typer.Option("--emails-file", help="A file of emails, one per line.")
]
Segment = Annotated[str | None, typer.Option("--segment", help="Every contact in this segment.")]
Where = Annotated[
    str | None,
    typer.Option("--where", help="Every contact matching a condition, e.g. '{tag: vip}'."),
]


def enroll(
    journey_id: Annotated[str, typer.Argument(help="The deployed journey's id.")],
    email: Emails = None,
    emails_file: EmailsFile = None,
    segment: Segment = None,
    where: Where = None,
) -> None:
    """Enroll contacts now; the journey's audience and entry rules decide who may enter."""
    from rich.progress import Progress

    from engine.clock import utcnow
    from engine.runtime.enroll import (
        EnrollResult,
        contact_ids_by_email,
        enroll_contacts,
        enroll_matching,
    )
    from engine.runtime.journeys import CompiledJourneys

    _require_one_audience("enroll", email, emails_file, segment, where)
    settings = load_settings()
    database = open_database(settings)
    journeys = CompiledJourneys()
    now = utcnow()
    result, unknown = EnrollResult(), list[str]()
    with reported():
        if email or emails_file:
            addresses = _read_emails(email, emails_file)
            with database.unit_of_work() as session:
                ids, unknown = contact_ids_by_email(session, addresses)
                result = enroll_contacts(session, journey_id, ids, now=now, journeys=journeys)
        else:
            condition = _condition(segment, where)
            _require_segment(database, segment)
            with Progress(transient=True) as progress:
                task = progress.add_task("enrolling", total=None)
                result = enroll_matching(
                    database,
                    journey_id,
                    condition,
                    now=now,
                    journeys=journeys,
                    progress=lambda n: progress.advance(task, n),
                )
    refused = ", ".join(f"{code} {n:,}" for code, n in sorted(result.refused.items()) if n)
    out.print(
        f"enrolled {result.enrolled:,} in {journey_id}"
        + (f"; refused: {refused}" if refused else "")
    )
    if unknown:
        out.print(f"[yellow]no contact with these emails:[/] {', '.join(unknown)}")
    out.print(
        "they start within a second where a scheduler runs (nurture up, or nurture scheduler)"
    )


def remove(
    journey_id: Annotated[str, typer.Argument(help="The deployed journey's id.")],
    email: Emails = None,
    emails_file: EmailsFile = None,
    segment: Segment = None,
    where: Where = None,
) -> None:
    """Take contacts out of a journey now: their live enrollments end with reason "removed"."""
    from rich.progress import Progress

    from engine.clock import utcnow
    from engine.runtime.enroll import contact_ids_by_email, emails_by_contact_id
    from engine.runtime.removal import remove_contacts, remove_matching

    _require_one_audience("remove", email, emails_file, segment, where)
    database = open_database(load_settings())
    now = utcnow()
    if segment is not None or where is not None:
        condition = _condition(segment, where)
        with reported(), Progress(transient=True) as progress:
            _require_segment(database, segment)
            task = progress.add_task("removing", total=None)
            removed, matched = remove_matching(
                database,
                journey_id,
                condition,
                now=now,
                progress=lambda n: progress.advance(task, n),
            )
        out.print(f"removed {removed:,} from {journey_id} ({matched:,} contacts matched)")
        return
    addresses = _read_emails(email, emails_file)
    with reported(), database.unit_of_work() as session:
        ids, unknown = contact_ids_by_email(session, addresses)
        ended = set(remove_contacts(session, journey_id, ids, now=now))
        absent = sorted(emails_by_contact_id(session, set(ids) - ended).values())
    out.print(f"removed {len(ended):,} from {journey_id}")
    if absent:
        out.print(f"[yellow]not in {journey_id}:[/] {', '.join(absent)}")
    if unknown:
        out.print(f"[yellow]no contact with these emails:[/] {', '.join(unknown)}")


def _require_one_audience(
    verb: str,
    email: list[str] | None,
    emails_file: Path | None,
    segment: str | None,
    where: str | None,
) -> None:
    """Exit unless exactly one way of naming contacts was given."""
    chosen = [bool(email or emails_file), segment is not None, where is not None]
    if sum(chosen) != 1:
        fail(f"say who to {verb}: --email/--emails-file, --segment or --where (one of them)")


def _condition(segment: str | None, where: str | None) -> Condition:
    """The contacts ``--segment`` or ``--where`` names, as a condition; exit on a bad one.

    A segment id is taken as given, never parsed as YAML: ``--segment "vip, tag: x"`` is
    one (unknown, so refused) id, not a second condition.
    """
    from pydantic import TypeAdapter, ValidationError
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from engine.journey.conditions import Condition

    adapter: TypeAdapter[Condition] = TypeAdapter(Condition)
    if segment is not None:
        if not segment.strip():
            fail("--segment needs a segment id")
        return adapter.validate_python({"segment": segment})
    try:
        return adapter.validate_python(YAML(typ="safe").load(str(where)))
    except (YAMLError, ValidationError) as error:
        fail(f"--where is not a condition: {error}")


def _require_segment(database: Database, segment: str | None) -> None:
    """Raise NotFound for a segment that was never synced: it would silently match no one."""
    from engine.segments.definitions import get_segment

    if segment is not None:
        with database.sessions() as session:
            get_segment(session, segment)


def _read_emails(email: list[str] | None, emails_file: Path | None) -> list[str]:
    """The emails given and those in the file (UTF-8, BOM allowed), normalised; exit on a bad one."""
    from engine.contacts.fields import normalize_email

    raw = [(f"--email {n}", address) for n, address in enumerate(email or [], start=1)]
    if emails_file is not None:
        try:
            lines = emails_file.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            fail(f"{emails_file}: {error}")
        raw += [(f"{emails_file}:{n}", line.strip()) for n, line in enumerate(lines, start=1)]
    addresses = []
    for where, address in raw:
        if not address:
            continue
        try:
            addresses.append(normalize_email(address))
        except ValueError as error:
            fail(f"{where}: {error}")
    return addresses
