"""Hand messages to an SMTP server (aiosmtplib), and read what its replies mean for us.

``smtp://host:port`` upgrades with STARTTLS when the server offers it (``?starttls=require``
insists, ``?starttls=off`` never tries); ``smtps://`` is TLS from the first byte; a
``user:password@`` logs in. Connections are pooled per process and kept between batches
(engine/email/pool.py); rates and domain pauses are asked of a limiter (engine/email/ratelimit.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from engine.email.dkim import DkimSigner
from engine.email.ratelimit import Limiter, limiter_for
from engine.errors import ConfigurationError
from engine.settings import Settings

if TYPE_CHECKING:
    from engine.email.pool import ConnectionPool

log = logging.getLogger(__name__)

#: Seconds to wait for the server to connect and to answer each command.
SMTP_TIMEOUT = 30.0
#: Seconds to wait for the server to accept a message's data.
DATA_TIMEOUT = 120.0
#: The longest a message waits in-process for its rate tokens before it is held for later.
MAX_RATE_WAIT = 2.0
_HARD_BOUNCE = re.compile(r"(?<![\d.])5\.1\.\d{1,3}(?![\d.])")
_ENHANCED = re.compile(r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.])")

_SOFT_BOUNCE = re.compile(r"(?<![\d.])5\.2\.2(?![\d.])")
_POLICY = re.compile(r"(?<![\d.])5\.7\.\d{1,3}(?![\d.])")

#: ``held``: not tried, a rate limit or a domain pause holds it back (no attempt counted).
#: ``blocked``: refused on policy (5.7.x): fails, alerts, pauses the domain; no suppression.
Verdict = Literal["sent", "deferred", "held", "bounced", "soft_bounced", "blocked", "failed"]


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
    bounce (the mailbox does not exist), 5.2.2 a soft one (mailbox full); 5.7.x is a policy
    or authentication refusal (DMARC, reputation): blocked, which says nothing about the
    recipient; any other 5xx failed. 5.1.x on MAIL FROM is about our own sender, so it
    fails rather than blaming the recipient.
    """
    text = " ".join(reply.split())
    if 200 <= code < 300:
        return Outcome("sent", code, text)
    if 400 <= code < 500:
        return Outcome("deferred", code, text)
    if _POLICY.search(text):
        return Outcome("blocked", code, text)
    if stage != "mail" and _HARD_BOUNCE.search(text):
        return Outcome("bounced", code, text)
    if stage != "mail" and _SOFT_BOUNCE.search(text):
        return Outcome("soft_bounced", code, text)
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
    """Deliver batches over the process's pooled connections, within the rate limits.

    A message whose rate tokens are not free within ``max_rate_wait`` seconds, or whose
    domain is paused, is ``held`` (tried later, no attempt counted). A policy refusal
    (5.7.x) pauses its domain for ``policy_pause`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = SMTP_TIMEOUT,
        data_timeout: float = DATA_TIMEOUT,
        connections: int = 4,
        limiter: Limiter | None = None,
        signer: DkimSigner | None = None,
        policy_pause: float = 900.0,
        max_rate_wait: float = MAX_RATE_WAIT,
    ) -> None:
        from engine.email.pool import Timeouts

        self.server = SmtpServer.from_url(url)
        self.timeouts = Timeouts(connect=timeout, command=timeout, data=data_timeout)
        self.connections = connections
        self.limiter = limiter
        self.signer = signer
        self.policy_pause = policy_pause
        self.max_rate_wait = max_rate_wait

    @classmethod
    def from_settings(cls, settings: Settings, url: str, *, default_domain: str) -> SmtpMailer:
        """The mailer the settings describe: pool size, timeouts, rates, DKIM key.

        Raises ConfigurationError naming the setting that cannot be used.
        """
        return cls(
            url,
            timeout=settings.smtp_timeout,
            data_timeout=settings.smtp_data_timeout,
            connections=settings.smtp_connections,
            limiter=limiter_for(
                settings.smtp_rate, settings.smtp_domain_rates, settings.resolved_redis_url
            ),
            signer=DkimSigner.from_settings(settings, default_domain=default_domain),
            policy_pause=settings.smtp_policy_pause,
        )

    def deliver(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        """Send the batch concurrently; return one outcome per message, in order (never raises).

        Blocks the calling thread (a worker thread) until every message has an outcome.
        """
        from engine.email import pool

        if not batch:
            return []
        if self.signer is not None:
            signer = self.signer
            batch = [replace(item, data=signer.sign(item.data)) for item in batch]
        connections = pool.pool_for(self.server, size=self.connections, timeouts=self.timeouts)
        rounds = -(-len(batch) // self.connections)  # messages one connection may carry
        bound = rounds * (self.timeouts.message() + self.max_rate_wait) + 5.0
        return pool.loop.run(self._deliver(connections, batch), timeout=bound)

    async def _deliver(
        self, connections: ConnectionPool, batch: Sequence[Outgoing]
    ) -> list[Outcome]:
        return list(await asyncio.gather(*(self._one(connections, item) for item in batch)))

    async def _one(self, connections: ConnectionPool, item: Outgoing) -> Outcome:
        domain = item.recipient.rpartition("@")[2].lower()
        held = await self._admit(domain)
        if held is not None:
            return held
        outcome = await connections.send(item)
        if outcome.verdict == "blocked" and self.limiter is not None and self.policy_pause:
            self.limiter.pause(domain, self.policy_pause)
            log.warning(
                "%s refused mail to %s on policy (%s); sending to %s paused for %.0f s",
                self.server.describe(),
                domain,
                outcome.smtp_code,
                domain,
                self.policy_pause,
            )
        return outcome

    async def _admit(self, domain: str) -> Outcome | None:
        """Wait for the rate tokens of one message to ``domain``; an Outcome when held."""
        if self.limiter is None:
            return None
        waited = 0.0
        while True:
            admission = self.limiter.admit(domain)
            if admission.paused_for > 0:
                return Outcome(
                    "held", None, f"sending to {domain} paused for {admission.paused_for:.0f} s"
                )
            if admission.granted:
                return None
            if waited + admission.wait > self.max_rate_wait:
                return Outcome("held", None, f"held back by the rate limit of {domain}")
            await asyncio.sleep(admission.wait)
            waited += admission.wait
