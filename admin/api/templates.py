"""Email templates: list them with their front matter or error, preview one, send a test.

The same rendering as ``nurture templates preview|send-test`` (:mod:`engine.email.proof`):
a preview is the template rendered for a chosen contact without tracking; a test send mails
that rendering, subject marked ``[TEST]``, to the tester's address through this
installation's SMTP server (in embedded mode, the SMTP capture).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from admin.api.deps import Reader, SessionDep, Writer
from engine.clock import utcnow
from engine.email.capture import effective_smtp_url
from engine.email.compose import MailIdentity
from engine.email.proof import Preview, compose_test, find_contact, render_preview, send_test
from engine.email.smtp import SmtpMailer
from engine.email.templates import TemplateError, TemplateStore
from engine.errors import NotFound
from engine.settings import Settings

router = APIRouter(prefix="/api/templates", tags=["templates"])

TemplateName = Annotated[str, Path(max_length=100)]


@cache
def template_store(folder: FilePath) -> TemplateStore:
    """The process's store of a templates folder: compiled once, recompiled when a file changes."""
    return TemplateStore(folder)


class TemplateOut(BaseModel):
    """A template as its front matter describes it; ``error`` when it does not compile."""

    name: str
    subject: str | None
    preheader: str | None
    sender: str | None
    reply_to: str | None
    topic: str | None
    locale: str | None
    error: str | None


class PreviewIn(BaseModel):
    """Whose data to render with, and (optionally) the journey entry a step would see."""

    contact: str = Field(min_length=1, max_length=320, description="An email, or #ID.")
    entry: dict[str, Any] | None = Field(
        None, description='Entry data as a journey has it: {"properties": {...}}.'
    )


class PreviewOut(BaseModel):
    """The template rendered for the contact, as it would be mailed (without tracking)."""

    template: str
    subject: str
    preheader: str
    sender: str = Field(alias="from")
    reply_to: str | None
    to: str
    topic: str | None
    html: str
    text: str


class SendTestIn(PreviewIn):
    """A preview to mail to ``to`` (the tester), not to the contact."""

    to: str = Field(min_length=3, max_length=320)


class SendTestOut(BaseModel):
    """What the SMTP server said: ``sent`` true when it accepted the message."""

    sent: bool
    to: str
    message_id: str
    verdict: str
    smtp_code: str | None
    reply: str


@router.get("", response_model=list[TemplateOut])
def list_templates(request: Request, _: Reader) -> list[TemplateOut]:
    """Every template in the templates folder, with its front matter or its first error."""
    return [TemplateOut(**row) for row in template_rows(_settings(request))]


@router.post("/{name}/preview", response_model=PreviewOut)
def preview(
    name: TemplateName, body: PreviewIn, request: Request, session: SessionDep, _: Reader
) -> PreviewOut:
    """Render template ``name`` for a contact; 404 for an unknown template or contact.

    A template that fails for this contact answers 422 with the file and line.
    """
    shown = build_preview(_settings(request), session, name, body.contact, body.entry)
    return PreviewOut.model_validate(shown.to_dict())


@router.post("/{name}/test-send", response_model=SendTestOut)
def send_test_mail(
    name: TemplateName, body: SendTestIn, request: Request, session: SessionDep, _: Writer
) -> SendTestOut:
    """Mail the preview to ``to``, subject marked [TEST]; answers what the server replied.

    The test is not tracked, not stored and not counted in any statistic.
    """
    settings = _settings(request)
    shown = build_preview(settings, session, name, body.contact, body.entry)
    return mail_test(request, shown, body.to)


def template_rows(settings: Settings) -> list[dict[str, Any]]:
    """Each template's front matter, or its error (``templates/NAME.mjml:LINE: ...``)."""
    store = template_store(settings.templates_dir)
    rows: list[dict[str, Any]] = []
    for name in store.names():
        try:
            front = store.get(name).front
        except TemplateError as error:
            rows.append({"name": name, "error": error.message} | dict.fromkeys(_FRONT))
            continue
        sender = front.sender
        rows.append(
            {
                "name": name,
                "subject": front.subject,
                "preheader": front.preheader,
                "sender": (f"{sender.name} <{sender.email}>" if sender.name else sender.email)
                if sender
                else None,
                "reply_to": front.reply_to,
                "topic": front.topic,
                "locale": front.locale,
                "error": None,
            }
        )
    return rows


def build_preview(
    settings: Settings,
    session: Session,
    name: str,
    contact: str,
    entry: dict[str, Any] | None,
) -> Preview:
    """Render ``name`` for ``contact``; NotFound for an unknown template or contact."""
    store = template_store(settings.templates_dir)
    if name not in store.names():
        raise NotFound(f"no template {name!r} in {settings.templates_dir}")
    data = find_contact(session, contact)
    identity = MailIdentity.from_settings(settings)
    return render_preview(store, name, data, identity=identity, entry=entry)


def mail_test(request: Request, shown: Preview, to: str) -> SendTestOut:
    """Compose ``shown`` as a test for ``to`` and hand it to this installation's SMTP server."""
    settings = _settings(request)
    identity = MailIdentity.from_settings(settings)
    message = compose_test(
        shown,
        to=to,
        identity=identity,
        now=utcnow(),
        domain=urlsplit(settings.public_url).hostname or "localhost",
    )
    mailer = SmtpMailer.from_settings(
        settings,
        effective_smtp_url(settings, _capture_port(request, settings)),
        default_domain=identity.sender.email.rpartition("@")[2],
    )
    outcome = send_test(mailer, message)
    return SendTestOut(
        sent=outcome.verdict == "sent",
        to=message.outgoing.recipient,
        message_id=message.message_id,
        verdict=outcome.verdict,
        smtp_code=outcome.smtp_code,
        reply=outcome.reply,
    )


_FRONT = ("subject", "preheader", "sender", "reply_to", "topic", "locale")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _capture_port(request: Request, settings: Settings) -> int:
    """Where this process's SMTP capture listens (``nurture up``), else the configured port."""
    address = getattr(request.app.state, "capture_address", None)
    if isinstance(address, str) and ":" in address:
        return int(address.rpartition(":")[2])
    return settings.capture_smtp_port
