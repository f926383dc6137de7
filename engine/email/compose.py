"""An RFC 5322 message from a rendered email: headers a mailbox provider expects, two parts.

The Message-ID is the one stored when the send was queued, so a retried send is the same
message. ``List-Unsubscribe`` offers the signed one-click URL (RFC 8058) and a mailto; the
envelope sender is a VERP address ``bounces+UID@bounce-domain``, so a bounce names its
message by the opaque ``uid`` alone.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from email.charset import Charset
from email.header import Header
from email.utils import format_datetime, formataddr, getaddresses
from functools import lru_cache
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
    """What to send: SMTP envelope sender and recipient, and the message as wire bytes."""

    sender: str
    recipient: str
    data: bytes

    def as_bytes(self) -> bytes:
        """The message as it goes on the wire (CRLF line ends, RFC 2047 headers)."""
        return self.data


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

    ``campaign`` names the journey (or broadcast) and step for ``Feedback-ID``. The headers
    every message of a campaign shares are encoded once (:func:`_shared_headers`); per
    message only the recipient, subject, date, ids and bodies are encoded, with the stdlib's
    RFC 2047 and base64 encoders, into bytes that parse as an ``EmailMessage`` would have.
    """
    boundary = f"=_{uid}"  # "=_" cannot occur in base64, so the bodies never contain it
    head = [
        f"Message-ID: {_one_line(message_id)}",
        f"Date: {format_datetime(date)}",
        _shared_headers(sender, reply_to, topic, campaign, identity.list_domain),
        f"To: {_mailbox(to, 'To')}",
        f"Subject: {_text_header(rendered.subject, 'Subject')}",
        "List-Unsubscribe: "
        f"<{_one_line(unsubscribe_url)}>,{CRLF} <{identity.unsubscribe_mailto(unsubscribe_token)}>",
        f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"',
    ]
    data = b"".join(
        (
            CRLF.join(head).encode("ascii"),
            f"{CRLF}{CRLF}--{boundary}{CRLF}".encode(),
            _PLAIN,
            _base64(rendered.text),
            f"{CRLF}--{boundary}{CRLF}".encode(),
            _HTML,
            _base64(rendered.html),
            f"{CRLF}--{boundary}--{CRLF}".encode(),
        )
    )
    return Envelope(identity.bounce_address(uid), _envelope_address(to.email), data)


CRLF = "\r\n"
_UTF8 = Charset("utf-8")
_PART_HEAD = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
_BASE64_LINE = 76
_PLAIN = _PART_HEAD.format("plain").encode("ascii")
_HTML = _PART_HEAD.format("html").encode("ascii")


@lru_cache(maxsize=256)
def _shared_headers(
    sender: Sender, reply_to: str | None, topic: str | None, campaign: str, list_domain: str
) -> str:
    """The header lines every message of one campaign shares, encoded once."""
    list_name = topic or "all"
    lines = [f"From: {_mailbox(sender, 'From')}"]
    if reply_to:
        lines.append(f"Reply-To: {_address_list(reply_to, 'Reply-To')}")
    lines += [
        "MIME-Version: 1.0",
        f"List-Id: {list_name} <{list_name}.{list_domain}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        # Gmail's format, campaign:topic:sender, short enough for one unfolded header line.
        f"Feedback-ID: {_feedback_part(campaign, 36)}:{_feedback_part(topic or 'none', 20)}:nurture",
    ]
    return CRLF.join(lines)


@lru_cache(maxsize=1024)  # a broadcast's subject is often the same for everyone
def _text_header(value: str, name: str) -> str:
    """An unstructured header's value: folded, RFC 2047-encoded when it is not ASCII."""
    value = _one_line(value)
    if value.isascii():
        return Header(value, header_name=name).encode(linesep=CRLF)
    return Header(value, _UTF8, header_name=name).encode(linesep=CRLF)


def _mailbox(person: Sender, name: str) -> str:
    """``Display Name <local@domain>``, the name quoted or RFC 2047-encoded as it needs."""
    local, _, domain = person.email.rpartition("@")
    address = f"{_one_line(local)}@{_ascii_domain(_one_line(domain))}"
    display = _one_line(person.name or "")
    if not display:
        return address
    if display.isascii():
        return formataddr((display, address))
    encoded = Header(display, _UTF8, header_name=name).encode(linesep=CRLF)
    *folded, last = encoded.split(CRLF)
    width = len(last) + (0 if folded else len(name) + 2)
    # Fold before the address, as the email package does, when it would pass 78 characters.
    return f"{encoded}{' ' if width + len(address) + 3 <= 78 else CRLF + ' '}<{address}>"


def _address_list(value: str, name: str) -> str:
    """Addresses as written in settings or front matter (``営業部 <sales@…>, …``), encoded."""
    found = [(n, a) for n, a in getaddresses([_one_line(value)]) if a]
    if not found:
        return _text_header(value, name)
    return ", ".join(_mailbox(Sender(address, display or None), name) for display, address in found)


def _base64(body: str) -> bytes:
    """A body in base64 lines of 76 characters, CRLF-ended (what email.charset uses for UTF-8).

    The text is in canonical form first (RFC 2046): every line, the last too, ends in CRLF.
    """
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    encoded = binascii.b2a_base64(
        text.replace("\n", "\r\n").encode("utf-8", "surrogateescape"), newline=False
    )
    # 76 characters a line, as base64.encodebytes cuts them, in one pass instead of a call
    # per 57-byte chunk.
    lines = [encoded[i : i + _BASE64_LINE] for i in range(0, len(encoded), _BASE64_LINE)]
    return b"\r\n".join(lines) + b"\r\n"


def _one_line(value: str) -> str:
    """A header value without line breaks: a CR or LF in it would start a new header."""
    return " ".join(value.splitlines()) if "\n" in value or "\r" in value else value


def _feedback_part(text: str, limit: int) -> str:
    return _FEEDBACK_PART.sub("-", text)[:limit]


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
