"""The words of a notification: the step's message, the contact's name and a link to it."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from engine.contacts.fields import display_name
from engine.store.models import Contact

log = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# Sandboxed: message texts are written by journey authors, and run in the worker.
_JINJA = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)


def contact_name(contact: Contact) -> str:
    """Name the contact as its language writes it (``山田 太郎``); the email when nameless.

    Without a stored locale, a name in Japanese, Chinese or Korean script is written family
    name first too.
    """
    locale = contact.locale
    if locale is None and _CJK.search(f"{contact.last_name or ''}{contact.first_name or ''}"):
        locale = "ja"
    return display_name(contact.first_name, contact.last_name, locale) or contact.email


def contact_link(public_url: str, contact_id: int) -> str:
    """Return the contact's page in the admin UI."""
    return f"{public_url.rstrip('/')}/admin/contacts/{contact_id}"


def render_message(text: str, contact: Contact | None) -> str:
    """Fill ``{{ contact.… }}`` placeholders; a text that does not render is kept as written."""
    if "{" not in text:
        return text
    fields: dict[str, Any] = {}
    if contact is not None:
        fields = {
            **(contact.attributes or {}),
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "name": contact_name(contact),
            "score": contact.score,
            "lifecycle_stage": contact.lifecycle_stage,
        }
    try:
        return _JINJA.from_string(text).render(contact=fields)
    except TemplateError as error:
        log.warning("notification text does not render (%s); sent as written", error)
        return text


def compose(
    *,
    headline: str,
    contact: Contact | None,
    public_url: str,
    details: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Return ``(subject, body)``: the headline, who it is about, where to look, and details."""
    lines = [headline, ""]
    subject = headline.splitlines()[0] if headline else "Nurture"
    if contact is not None:
        name = contact_name(contact)
        subject = f"{name}: {subject}"
        lines += [f"Contact: {name} <{contact.email}>", contact_link(public_url, contact.id)]
    for label, value in (details or {}).items():
        lines.append(f"{label}: {value}")
    return subject[:200], "\n".join(lines).rstrip() + "\n"
