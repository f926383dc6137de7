"""``nurture journeys enroll``: put contacts in a journey by hand or in bulk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.runtime import fail, load_settings, open_database, out, reported


def enroll(
    journey_id: Annotated[str, typer.Argument(help="The deployed journey's id.")],
    email: Annotated[
        list[str] | None, typer.Option("--email", "-e", help="A contact's email (repeatable).")
    ] = None,
    emails_file: Annotated[
        Path | None, typer.Option("--emails-file", help="A file of emails, one per line.")
    ] = None,
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
    from engine.contacts.fields import normalize_email
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
            raw = list(email or [])
            if emails_file is not None:
                lines = emails_file.read_text(encoding="utf-8-sig").splitlines()
                raw += [line.strip() for line in lines if line.strip()]
            addresses = []
            for n, address in enumerate(raw, start=1):
                try:
                    addresses.append(normalize_email(address))
                except ValueError as error:
                    fail(f"email {n}: {error}")
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
