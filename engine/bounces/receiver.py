"""The inbound SMTP receiver for bounces and feedback-loop reports (aiosmtpd).

It accepts mail only for ``bounces+UID@<bounce domain>`` and the configured feedback-loop
addresses (550 for anyone else, so it is no open relay), stores each message raw and
processes it in one transaction before answering 250: a message the sender saw accepted
is never lost. A failure answers 451 so the sending MTA retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from engine.bounces.parse import verp_uid
from engine.bounces.service import SoftLimit, receive
from engine.clock import utcnow
from engine.email.listener import SmtpListener
from engine.store.db import Database

log = logging.getLogger(__name__)


def accepts(address: str, *, bounce_domain: str, fbl_addresses: Sequence[str]) -> bool:
    """Say whether the receiver takes mail for ``address``."""
    address = address.strip().strip("<>").lower()
    if address in {a.lower() for a in fbl_addresses}:
        return True
    return verp_uid(address) is not None and address.endswith("@" + bounce_domain.lower())


class BounceHandler:
    """aiosmtpd handler: refuse strangers at RCPT, store and process at DATA."""

    def __init__(
        self,
        database: Database,
        *,
        bounce_domain: str,
        fbl_addresses: Sequence[str] = (),
        soft_limit: SoftLimit = SoftLimit(),
        clock: Callable[[], Any] = utcnow,
    ) -> None:
        self.database = database
        self.bounce_domain = bounce_domain
        self.fbl_addresses = list(fbl_addresses)
        self.soft_limit = soft_limit
        self.clock = clock

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if not accepts(address, bounce_domain=self.bounce_domain, fbl_addresses=self.fbl_addresses):
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        try:
            outcome = await asyncio.to_thread(self._receive, raw, envelope)
        except Exception:
            log.exception("could not store an inbound bounce")
            return "451 4.3.0 Cannot store the message now, try again later"
        return f"250 OK {outcome} verdict(s)"

    def _receive(self, raw: bytes, envelope: Any) -> int:
        with self.database.unit_of_work() as session:
            outcome = receive(
                session,
                raw,
                source="smtp",
                now=self.clock(),
                mail_from=str(envelope.mail_from or ""),
                rcpt_to=[str(r) for r in envelope.rcpt_tos],
                soft_limit=self.soft_limit,
            )
        return len(outcome.verdicts)


class BounceReceiver(SmtpListener):
    """The receiver on ``host:port`` (port 0 = any free one), running in its own thread."""

    def __init__(self, handler: BounceHandler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(
            handler,
            host=host,
            port=port,
            what="the bounce receiver",
            port_hint="choose another port with --port",
            server_hostname="nurture-bounces",
            data_size_limit=10 * 1024 * 1024,
        )
