"""Hand messages to an SMTP server (aiosmtplib), and read what its replies mean for us.

``smtp://host:port`` upgrades with STARTTLS when the server offers it (``?starttls=require``
insists, ``?starttls=off`` never tries); ``smtps://`` is TLS from the first byte; a
``user:password@`` logs in. One connection carries a whole batch.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from engine.errors import ConfigurationError

#: Seconds to wait for the server at each step (connect, each command, the data).
SMTP_TIMEOUT = 30.0
_HARD_BOUNCE = re.compile(r"(?<![\d.])5\.1\.\d{1,3}(?![\d.])")
_ENHANCED = re.compile(r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.])")

Verdict = Literal["sent", "deferred", "bounced", "failed"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to hand over: envelope sender, one recipient, and the wire bytes."""

    sender: str
    recipient: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: the verdict, and the server's reply (or our reason)."""

    verdict: Verdict
    code: int | None
    reply: str

    @property
    def smtp_code(self) -> str | None:
        """The basic and enhanced status codes, ``550 5.1.1``, as stored on the message."""
        if self.code is None:
            return None
        enhanced = _ENHANCED.search(self.reply)
        return f"{self.code} {enhanced.group(0)}" if enhanced else str(self.code)


class Mailer(Protocol):
    """What the send service needs of a mail transport."""

    def deliver(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        """Send each message; return one outcome per message, in order (never raises)."""
        ...


def classify(code: int, reply: str, *, stage: Literal["mail", "rcpt", "data"]) -> Outcome:
    """Decide what an SMTP reply means.

    2xx sent; 4xx deferred (try again later); a 5.1.x refusal of the recipient is a hard
    bounce (the mailbox does not exist); any other 5xx failed. 5.1.x on MAIL FROM is about
    our own sender, so it fails rather than blaming the recipient.
    """
    text = " ".join(reply.split())
    if 200 <= code < 300:
        return Outcome("sent", code, text)
    if 400 <= code < 500:
        return Outcome("deferred", code, text)
    if stage != "mail" and _HARD_BOUNCE.search(text):
        return Outcome("bounced", code, text)
    return Outcome("failed", code, text)


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to connect, read from ``NURTURE_SMTP_URL``."""

    hostname: str
    port: int
    use_tls: bool
    start_tls: bool | None
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Read ``smtp[s]://[user:password@]host[:port][?starttls=require|off]``.

        Raises ConfigurationError naming NURTURE_SMTP_URL when the URL cannot be used.
        """
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ConfigurationError(
                f"NURTURE_SMTP_URL: {parts.scheme or 'no'} scheme or no host; "
                "use smtp://host:port or smtps://user:password@host:port"
            )
        starttls = parse_qs(parts.query).get("starttls", ["auto"])[-1]
        if starttls not in {"auto", "require", "off"}:
            raise ConfigurationError("NURTURE_SMTP_URL: starttls must be auto, require or off")
        tls = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if tls else 587 if starttls == "require" else 25)
        except ValueError:
            raise ConfigurationError("NURTURE_SMTP_URL: the port is not a number") from None
        return cls(
            hostname=parts.hostname,
            port=port,
            use_tls=tls,
            start_tls=None if tls or starttls == "auto" else starttls == "require",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def describe(self) -> str:
        """``host:port`` for messages, without credentials."""
        return f"{self.hostname}:{self.port}"


class SmtpMailer:
    """Deliver batches over one SMTP connection each, reconnecting once if it drops."""

    def __init__(self, url: str, *, timeout: float = SMTP_TIMEOUT) -> None:
        self.server = SmtpServer.from_url(url)
        self.timeout = timeout

    def deliver(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        """Send each message in order; return one outcome per message (never raises).

        Runs its own event loop: callers are worker threads, not coroutines.
        """
        if not batch:
            return []
        return asyncio.run(self._deliver(batch))

    async def _deliver(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        client: aiosmtplib.SMTP | None = None
        try:
            for item in batch:
                if client is None or not client.is_connected:
                    client, failure = await self._connect()
                    if failure is not None:
                        outcomes.extend([failure] * (len(batch) - len(outcomes)))
                        return outcomes
                outcomes.append(await self._send(client, item))
        finally:
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except aiosmtplib.SMTPException:
                    client.close()
        return outcomes

    async def _connect(self) -> tuple[aiosmtplib.SMTP, Outcome | None]:
        server = self.server
        client = aiosmtplib.SMTP(
            hostname=server.hostname,
            port=server.port,
            use_tls=server.use_tls,
            start_tls=server.start_tls,
            username=server.username,
            password=server.password,
            timeout=self.timeout,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as error:
            return client, Outcome(
                "deferred", error.code, f"login to {server.describe()} refused: {error.message}"
            )
        except aiosmtplib.SMTPResponseException as error:
            return client, classify(error.code, error.message, stage="mail")
        except (aiosmtplib.SMTPException, OSError) as error:
            return client, Outcome(
                "deferred",
                None,
                f"cannot reach {server.describe()}: {error or type(error).__name__}",
            )
        return client, None

    async def _send(self, client: aiosmtplib.SMTP, item: Outgoing) -> Outcome:
        try:
            _, reply = await client.sendmail(item.sender, [item.recipient], item.data)
        except aiosmtplib.SMTPRecipientsRefused as error:
            refused = error.recipients[0]
            return classify(refused.code, refused.message, stage="rcpt")
        except aiosmtplib.SMTPSenderRefused as error:
            return classify(error.code, error.message, stage="mail")
        except aiosmtplib.SMTPResponseException as error:
            return classify(error.code, error.message, stage="data")
        except (aiosmtplib.SMTPException, OSError) as error:  # timeout, dropped connection
            client.close()
            return Outcome("deferred", None, f"{type(error).__name__}: {error}")
        except ValueError as error:  # an address aiosmtplib will not put on the wire
            return Outcome("failed", None, f"cannot send to {item.recipient!r}: {error}")
        return Outcome("sent", 250, " ".join(reply.split()))
