"""A small plain-text sender for internal mail (notifications to colleagues).

Marketing mail has its own pipeline (templates, tracking, suppression); a note to a
salesperson needs none of that, only the installation's SMTP server.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib

#: Seconds an SMTP conversation may take before the send counts as failed.
SMTP_TIMEOUT = 30


def build_message(*, sender: str, to: str, subject: str, body: str, domain: str) -> EmailMessage:
    """Return a UTF-8 plain-text message with its Date and Message-ID."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body, charset="utf-8")
    return message


def send_plain(smtp_url: str, message: EmailMessage) -> None:
    """Send ``message`` through ``smtp://`` or ``smtps://user:password@host:port``.

    Raises aiosmtplib.SMTPException or OSError when the server refuses or is unreachable.
    """
    parts = urlsplit(smtp_url)
    implicit_tls = parts.scheme == "smtps"
    asyncio.run(
        aiosmtplib.send(
            message,
            hostname=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            timeout=SMTP_TIMEOUT,
        )
    )
