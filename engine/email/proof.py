"""Template previews and test sends: one template rendered for one chosen contact.

A marketer checks a template with a real contact's data before any journey or broadcast
mails it: the CLI (``nurture templates preview|send-test``), the API and the admin pages
all render through :func:`render_preview`. A test send is that rendering composed exactly
as real mail is (headers, List-Unsubscribe, DKIM when configured) and handed to the
installation's SMTP server, addressed to the tester rather than the contact. It is not a
campaign message: no tracking, no stored message, no consent check (the tester asked for
it), a subject marked ``[TEST]``, and an unsubscribe link that unsubscribes no one.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.contacts.fields import normalize_email
from engine.email.compose import MailIdentity, compose
from engine.email.smtp import Mailer, Outcome, Outgoing
from engine.email.templates import (
    RenderedEmail,
    Sender,
    TemplateStore,
    contact_fields,
    template_context,
)
from engine.errors import FieldProblem, InvalidInput, NotFound
from engine.store.models import Contact

#: What the subject of a test send starts with, so no one takes it for a campaign.
TEST_PREFIX = "[TEST] "
#: The token of a preview's unsubscribe link: a real link would unsubscribe the contact.
PREVIEW_TOKEN = "preview"  # noqa: S105 - a placeholder, not a secret


@dataclass(frozen=True, slots=True)
class Preview:
    """A template rendered for one contact, with who it is from and to."""

    template: str
    rendered: RenderedEmail
    sender: Sender
    reply_to: str | None
    to: Sender
    topic: str | None

    def to_dict(self) -> dict[str, Any]:
        """The preview as JSON-ready values (the API's and the admin page's)."""
        return {
            "template": self.template,
            "subject": self.rendered.subject,
            "preheader": self.rendered.preheader,
            "from": _mailbox(self.sender),
            "reply_to": self.reply_to,
            "to": _mailbox(self.to),
            "topic": self.topic,
            "html": self.rendered.html,
            "text": self.rendered.text,
        }


def find_contact(session: Session, ref: str) -> dict[str, Any]:
    """The fields a template sees of the contact ``ref`` names: an email, or ``#ID`` / an id.

    Raises InvalidInput for a malformed reference and NotFound for an unknown contact.
    """
    ref = ref.strip()
    digits = ref.removeprefix("#")
    if digits.isdigit():
        query = select(Contact).where(Contact.id == int(digits))
    else:
        try:
            email = normalize_email(ref)
        except ValueError as error:
            raise InvalidInput(
                f"contact: {error}", problems=[FieldProblem("contact", str(error))]
            ) from None
        query = select(Contact).where(Contact.email == email)
    row = session.scalars(query).one_or_none()
    if row is None:
        raise NotFound(f"no contact {ref!r}")
    return contact_fields(row)


def render_preview(
    store: TemplateStore,
    name: str,
    contact: Mapping[str, Any],
    *,
    identity: MailIdentity,
    entry: Mapping[str, Any] | None = None,
) -> Preview:
    """Render template ``name`` for ``contact`` as it would be mailed, without tracking.

    Raises TemplateError (naming file and line) when the template cannot be compiled or
    rendered for this contact.
    """
    template = store.get(name)
    sender = template.front.sender or identity.sender
    context = template_context(
        contact,
        entry=entry,
        unsubscribe_url=_sample_unsubscribe(identity),
        sender=sender,
        postal_address=identity.postal_address,
        locale=template.front.locale,
    )
    rendered = store.render(template, context)
    return Preview(
        template=name,
        rendered=rendered,
        sender=sender,
        reply_to=template.front.reply_to,
        to=Sender(str(contact["email"]), context["contact"]["name"] or None),
        topic=template.front.topic,
    )


@dataclass(frozen=True, slots=True)
class ProofMail:
    """A composed test: its Message-ID and what goes to the SMTP server."""

    message_id: str
    outgoing: Outgoing


def compose_test(
    preview: Preview, *, to: str, identity: MailIdentity, now: datetime, domain: str
) -> ProofMail:
    """The preview composed as real mail, addressed to ``to`` (the tester), subject marked.

    Raises InvalidInput naming ``to`` when it is not an email address.
    """
    try:
        address = normalize_email(to)
    except ValueError as error:
        raise InvalidInput(f"to: {error}", problems=[FieldProblem("to", str(error))]) from None
    uid = "test" + secrets.token_hex(12)
    rendered = preview.rendered
    marked = RenderedEmail(
        subject=TEST_PREFIX + rendered.subject,
        preheader=rendered.preheader,
        html=rendered.html,
        text=rendered.text,
    )
    message_id = f"<{uid}@{domain}>"
    envelope = compose(
        marked,
        message_id=message_id,
        uid=uid,
        date=now,
        sender=preview.sender,
        reply_to=preview.reply_to,
        to=Sender(address),
        unsubscribe_url=_sample_unsubscribe(identity),
        unsubscribe_token=PREVIEW_TOKEN,
        identity=identity,
        topic=preview.topic,
        campaign=f"test.{preview.template}",
    )
    return ProofMail(message_id, Outgoing(envelope.sender, envelope.recipient, envelope.as_bytes()))


def send_test(mailer: Mailer, mail: ProofMail) -> Outcome:
    """Hand one test message to the SMTP server; the outcome says whether it was accepted."""
    (outcome,) = mailer.deliver([mail.outgoing])
    return outcome


def _sample_unsubscribe(identity: MailIdentity) -> str:
    return f"{identity.public_url.rstrip('/')}/u/{PREVIEW_TOKEN}"


def _mailbox(person: Sender) -> str:
    return f"{person.name} <{person.email}>" if person.name else person.email
