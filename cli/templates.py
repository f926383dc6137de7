"""``nurture templates check|preview|send-test``: compile templates, show one, mail a test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.runtime import err, fail, load_settings, open_database, out

if TYPE_CHECKING:
    from engine.email.proof import Preview

app = typer.Typer(help="Email templates: check them all, preview one for a contact, send a test.")

EntryOption = Annotated[
    str | None,
    typer.Option(help="Entry data as JSON, as a journey has it: '{\"properties\": {...}}'."),
]


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
    entry: EntryOption = None,
) -> None:
    """Render one template for one contact, as it would be mailed (unsubscribe link a sample)."""
    if html and text:
        fail("choose --html or --text, not both")
    shown = _preview(name, contact, _entry(entry))
    if html:
        out.print(shown.rendered.html, markup=False, highlight=False, soft_wrap=True)
        return
    if text:
        out.print(shown.rendered.text, markup=False, highlight=False, end="")
        return
    data = shown.to_dict()
    out.print(f"Subject: {data['subject']}", markup=False, highlight=False)
    out.print(f"From: {data['from']}", markup=False, highlight=False)
    out.print(f"To: {data['to']}", markup=False, highlight=False)
    if data["preheader"]:
        out.print(f"Preheader: {data['preheader']}", markup=False, highlight=False)
    out.print("", markup=False)
    out.print(shown.rendered.text, markup=False, highlight=False, end="")


@app.command("send-test")
def send_test(
    name: Annotated[str, typer.Argument(help="Template name (templates/NAME.mjml).")],
    contact: Annotated[
        str, typer.Option("--contact", "-c", help="Whose data to render with: email or id.")
    ],
    to: Annotated[str, typer.Option("--to", help="Where to send the test (your address).")],
    entry: EntryOption = None,
) -> None:
    """Render a template for a contact and mail it to --to, marked [TEST], through SMTP.

    The message is composed like real mail (and DKIM-signed when a key is configured) but
    has no tracking and is not stored; in embedded mode it lands in the SMTP capture of a
    running ``nurture up``.
    """
    from urllib.parse import urlsplit

    from engine.clock import utcnow
    from engine.email.capture import effective_smtp_url
    from engine.email.compose import MailIdentity
    from engine.email.proof import compose_test
    from engine.email.proof import send_test as deliver_test
    from engine.email.smtp import SmtpMailer
    from engine.errors import ConfigurationError, InvalidInput

    settings = load_settings()
    shown = _preview(name, contact, _entry(entry))
    try:
        identity = MailIdentity.from_settings(settings)
        url = effective_smtp_url(settings, settings.capture_smtp_port)
        mailer = SmtpMailer.from_settings(
            settings, url, default_domain=identity.sender.email.rpartition("@")[2]
        )
        message = compose_test(
            shown,
            to=to,
            identity=identity,
            now=utcnow(),
            domain=urlsplit(settings.public_url).hostname or "localhost",
        )
    except ConfigurationError as error:
        fail(error.message)
    except InvalidInput as error:
        fail(f"--{error.message}")
    outcome = deliver_test(mailer, message)
    if outcome.verdict != "sent":
        code = f" ({outcome.smtp_code})" if outcome.smtp_code else ""
        fail(f"not sent{code}: {outcome.reply}")
    out.print(f"sent {name!r} for {shown.to.email} to {message.outgoing.recipient}", markup=False)


def _preview(name: str, contact: str, entry: dict[str, Any] | None) -> Preview:
    """Render ``name`` for ``contact``, or exit with the error that stops it."""
    from engine.email.compose import MailIdentity
    from engine.email.proof import find_contact, render_preview
    from engine.email.templates import TemplateError, TemplateStore
    from engine.errors import ConfigurationError, InvalidInput, NotFound

    settings = load_settings()
    try:
        identity = MailIdentity.from_settings(settings)
    except ConfigurationError as error:
        fail(error.message)
    database = open_database(settings)
    try:
        with database.sessions() as session:
            data = find_contact(session, contact)
    except (InvalidInput, NotFound) as error:
        fail(f"--contact: {error.message}")
    finally:
        database.dispose()
    try:
        return render_preview(
            TemplateStore(settings.templates_dir), name, data, identity=identity, entry=entry
        )
    except TemplateError as error:
        fail(error.message)


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
