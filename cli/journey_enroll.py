"""``nurture journeys enroll`` and ``remove``: put contacts in a journey, or take them out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.runtime import fail, load_settings, open_database, out, reported

Emails = Annotated[
    list[str] | None, typer.Option("--email", "-e", help="A contact's email (repeatable).")
]
EmailsFile = Annotated[
    Path | None, typer.Option("--emails-file", help="A file of emails, one per line.")
]


def enroll(
    journey_id: Annotated[str, typer.Argument(help="The deployed journey's id.")],
    email: Emails = None,
    emails_file: EmailsFile = None,
    segment: Annotated[
        str | None, typer.Option("--segment", help="Every contact in this segment.")
    ] = None,
    where: Annotated[
        str | None,
        typer.Option("--where", help="Every contact matching a condition, e.g. '{tag: vip}'."),
    ] = None,
) -> None:
    """Enroll contacts now; the journey's audience and entry rules decide who may enter."""
    from pydantic import TypeAdapter, ValidationError
    from rich.progress import Progress
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from engine.clock import utcnow
    from engine.journey.conditions import Condition
    from engine.runtime.enroll import (
        EnrollResult,
        contact_ids_by_email,
        enroll_contacts,
        enroll_matching,
    )
    from engine.runtime.journeys import CompiledJourneys

    chosen = [bool(email or emails_file), segment is not None, where is not None]
    if sum(chosen) != 1:
        fail("choose who to enroll: --email/--emails-file, --segment or --where (one of them)")
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
            text = f"{{segment: {segment}}}" if segment is not None else str(where)
            try:
                data = YAML(typ="safe").load(text)
                condition = TypeAdapter(Condition).validate_python(data)
            except (YAMLError, ValidationError) as error:
                fail(f"--where is not a condition: {error}")
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
) -> None:
    """Take contacts out of a journey now: their live enrollments exit as ``removed``."""
    from engine.clock import utcnow
    from engine.runtime.enroll import contact_ids_by_email, emails_by_contact_id
    from engine.runtime.removal import remove_contacts

    if not (email or emails_file):
        fail("say who to remove: --email (repeatable) or --emails-file")
    addresses = _read_emails(email, emails_file)
    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        ids, unknown = contact_ids_by_email(session, addresses)
        ended = set(remove_contacts(session, journey_id, ids, now=utcnow()))
        absent = sorted(emails_by_contact_id(session, set(ids) - ended).values())
    out.print(f"removed {len(ended):,} from {journey_id}")
    if absent:
        out.print(f"[yellow]not in {journey_id}:[/] {', '.join(absent)}")
    if unknown:
        out.print(f"[yellow]no contact with these emails:[/] {', '.join(unknown)}")


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
