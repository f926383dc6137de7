"""``nurture templates check|preview``: compile email templates like a compiler, and show one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.runtime import err, fail, load_settings, open_database, out

app = typer.Typer(help="Email templates: check them all, or preview one for a contact.")


@app.command()
def check(
    folder: Annotated[
        Path | None, typer.Option("--dir", help="Templates folder (default NURTURE_TEMPLATES_DIR).")
    ] = None,
) -> None:
    """Compile every template (front matter, layouts and partials, MJML, Jinja2); exit 1 on errors.

    Each error prints as ``templates/NAME.mjml:LINE: message``.
    """
    from engine.email.templates import TemplateStore

    directory = folder or load_settings().templates_dir
    if not directory.is_dir():
        fail(f"{directory}: no such folder")
    store = TemplateStore(directory)
    names = store.names()
    problems = store.check()
    for problem in problems:
        out.print(problem.message, markup=False, highlight=False)
    if problems:
        err.print(f"{len(problems)} of {len(names)} templates have errors")
        raise typer.Exit(1)
    out.print(f"{len(names)} templates OK")


@app.command()
def preview(
    name: Annotated[str, typer.Argument(help="Template name (templates/NAME.mjml).")],
    contact: Annotated[str, typer.Option("--contact", "-c", help="The contact's email or id.")],
    html: Annotated[bool, typer.Option("--html", help="Print only the HTML part.")] = False,
    text: Annotated[bool, typer.Option("--text", help="Print only the plain-text part.")] = False,
    entry: Annotated[
        str | None,
        typer.Option(help="Entry data as JSON, as a journey has it: '{\"properties\": {...}}'."),
    ] = None,
) -> None:
    """Render one template for one contact, as it would be mailed (unsubscribe link a sample)."""
    from sqlalchemy import select

    from engine.contacts.fields import normalize_email
    from engine.email.compose import MailIdentity
    from engine.email.templates import TemplateError, TemplateStore, template_context
    from engine.errors import ConfigurationError
    from engine.store.models import Contact

    if html and text:
        fail("choose --html or --text, not both")
    settings = load_settings()
    entry_data = _entry(entry)
    try:
        identity = MailIdentity.from_settings(settings)
    except ConfigurationError as error:
        fail(error.message)
    store = TemplateStore(settings.templates_dir)
    database = open_database(settings)
    try:
        with database.sessions() as session:
            if contact.isdigit():
                query = select(Contact).where(Contact.id == int(contact))
            else:
                try:
                    query = select(Contact).where(Contact.email == normalize_email(contact))
                except ValueError as error:
                    fail(f"--contact: {error}")
            row = session.scalars(query).one_or_none()
            if row is None:
                fail(f"--contact: no contact {contact!r}")
            data: dict[str, Any] = {
                "email": row.email,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "locale": row.locale,
                "timezone": row.timezone,
                "lifecycle_stage": row.lifecycle_stage,
                "score": row.score,
                "attributes": row.attributes or {},
            }
    finally:
        database.dispose()
    try:
        template = store.get(name)
        sender = template.front.sender or identity.sender
        context = template_context(
            data,
            entry=entry_data,
            unsubscribe_url=f"{settings.public_url}/u/preview",
            sender=sender,
            postal_address=identity.postal_address,
            locale=template.front.locale,
        )
        rendered = store.render(template, context)
    except TemplateError as error:
        fail(error.message)
    if html:
        out.print(rendered.html, markup=False, highlight=False, soft_wrap=True)
        return
    if text:
        out.print(rendered.text, markup=False, highlight=False, end="")
        return
    from_line = f"{sender.name} <{sender.email}>" if sender.name else sender.email
    out.print(f"Subject: {rendered.subject}", markup=False, highlight=False)
    out.print(f"From: {from_line}", markup=False, highlight=False)
    out.print(f"To: {data['email']}", markup=False, highlight=False)
    if rendered.preheader:
        out.print(f"Preheader: {rendered.preheader}", markup=False, highlight=False)
    out.print("", markup=False)
    out.print(rendered.text, markup=False, highlight=False, end="")


def _entry(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError as error:
        fail(f"--entry: not JSON: {error}")
    if not isinstance(value, dict):
        fail('--entry: must be a JSON object such as {"properties": {...}}')
    return value
