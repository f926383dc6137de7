"""An RFC 5322 message from a rendered email: headers a mailbox provider expects, two parts.

The Message-ID is the one stored when the send was queued, so a retried send is the same
message. ``List-Unsubscribe`` offers the signed one-click URL (RFC 8058) and a mailto; the
envelope sender is a VERP address ``bounces+UID@bounce-domain``, so a bounce names its
message by the opaque ``uid`` alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from ipaddress import ip_address
from urllib.parse import quote, urlsplit

from engine.email.templates import RenderedEmail, Sender
from engine.errors import ConfigurationError
from engine.settings import Settings

#: What a mailbox shows as the postal address in embedded mode, until one is configured.
EMBEDDED_POSTAL_ADDRESS = "(postal address: set NURTURE_POSTAL_ADDRESS)"
_FEEDBACK_PART = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class MailIdentity:
    """Who this installation mails as: default sender, postal address, bounce and list domains."""

    sender: Sender
    postal_address: str
    bounce_domain: str
    list_domain: str
    public_url: str
    tracking: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> MailIdentity:
        """Resolve the mail settings, defaulting domains to the public URL's host.

        Raises ConfigurationError outside embedded mode when no postal address is set:
        marketing mail must say where its sender is (CAN-SPAM, 特定電子メール法).
        """
        host = _mail_host(settings.public_url)
        postal = settings.postal_address.strip()
        if not postal:
            if not settings.embedded:
                raise ConfigurationError(
                    "NURTURE_POSTAL_ADDRESS is required: every marketing mail must carry the "
                    "sender's postal address"
                )
            postal = EMBEDDED_POSTAL_ADDRESS
        return cls(
            sender=Sender(settings.sender_email or f"nurture@{host}", settings.sender_name or None),
            postal_address=postal,
            bounce_domain=settings.bounce_domain or host,
            list_domain=settings.list_id or host,
            public_url=settings.public_url,
            tracking=settings.tracking_enabled,
        )

    def bounce_address(self, uid: str) -> str:
        """The VERP envelope sender of the message with this ``uid``."""
        return f"bounces+{uid}@{self.bounce_domain}"

    def unsubscribe_mailto(self, token: str) -> str:
        """The mailto of ``List-Unsubscribe``: the signed token rides in the subject."""
        return f"mailto:unsubscribe@{self.bounce_domain}?subject={quote('unsubscribe ' + token)}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What to send: SMTP envelope sender and recipient, and the message itself."""

    sender: str
    recipient: str
    message: EmailMessage

    def as_bytes(self) -> bytes:
        """The message as it goes on the wire (CRLF line ends, RFC 2047 headers)."""
        return self.message.as_bytes(policy=policy.SMTP)


def compose(
    rendered: RenderedEmail,
    *,
    message_id: str,
    uid: str,
    date: datetime,
    sender: Sender,
    reply_to: str | None,
    to: Sender,
    unsubscribe_url: str,
    unsubscribe_token: str,
    identity: MailIdentity,
    topic: str | None,
    campaign: str,
) -> Envelope:
    """Build the message: headers, ``multipart/alternative`` text then HTML, and its envelope.

    ``campaign`` names the journey (or broadcast) and step for ``Feedback-ID``.
    """
    message = EmailMessage(policy=policy.SMTP)
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(date)
    message["From"] = _address(sender)
    message["To"] = _address(to)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["MIME-Version"] = "1.0"
    list_name = topic or "all"
    message["List-Id"] = f"{list_name} <{list_name}.{identity.list_domain}>"
    message["List-Unsubscribe"] = (
        f"<{unsubscribe_url}>, <{identity.unsubscribe_mailto(unsubscribe_token)}>"
    )
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Gmail's format, campaign:topic:sender, short enough for one unfolded header line.
    message["Feedback-ID"] = (
        f"{_feedback_part(campaign, 36)}:{_feedback_part(topic or 'none', 20)}:nurture"
    )
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return Envelope(identity.bounce_address(uid), _envelope_address(to.email), message)


def _feedback_part(text: str, limit: int) -> str:
    return _FEEDBACK_PART.sub("-", text)[:limit]


def _address(sender: Sender) -> Address:
    local, _, domain = sender.email.rpartition("@")
    return Address(display_name=sender.name or "", username=local, domain=_ascii_domain(domain))


def _envelope_address(email: str) -> str:
    local, _, domain = email.rpartition("@")
    return f"{local}@{_ascii_domain(domain)}"


def _ascii_domain(domain: str) -> str:
    """An internationalised domain in its ASCII (IDNA) form, as SMTP and headers need it."""
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def _mail_host(public_url: str) -> str:
    host = urlsplit(public_url).hostname or "localhost"
    try:
        ip_address(host)
    except ValueError:
        return host if "." in host else "localhost"
    return "localhost"  # an IP literal is no mail domain: embedded mode's loopback URL
