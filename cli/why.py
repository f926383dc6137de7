"""``nurture contacts why EMAIL --template NAME``: why a contact did or did not get an email."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from cli.runtime import fail, load_settings, open_database, out
from engine.clock import utcnow
from engine.contacts.service import get_contact
from engine.contacts.why import explain, load_facts
from engine.errors import NotFound
from engine.runtime.journeys import CompiledJourneys


def why(
    email: Annotated[str, typer.Argument(help="The contact's email address.")],
    template: Annotated[str, typer.Option("--template", help="The email's template name.")],
) -> None:
    """Print the first reason the contact did or did not get ``template``, with the evidence."""
    database = open_database(load_settings())
    with database.sessions() as session:
        try:
            contact = get_contact(session, email)
        except NotFound:
            fail(f"no contact with email {email}")
        facts = load_facts(
            session,
            contact.id,
            contact.email,
            template,
            journeys=CompiledJourneys(),
            now=utcnow(),
        )
    found = explain(facts)
    out.print(f"[bold]{found.code}[/bold]: {escape(found.reason)}")
    for line in found.evidence:
        out.print(f"  - {escape(line)}")
