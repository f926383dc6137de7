"""A real SMTP server (aiosmtpd on loopback) that misbehaves for chosen recipients.

Faults are keyed by recipient address, so concurrent senders meet them deterministically:
a reply at RCPT or after DATA, a connection dropped after the data arrived (before the
reply: the classic "did it go?" case), or a stall that never answers in time.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any, Literal

from aiosmtpd.controller import Controller

from tests.engine.email.smtp_server import Received


@dataclass(frozen=True)
class Fault:
    """What the server does for a recipient: at ``stage``, ``reply``, ``drop`` or ``stall``."""

    stage: Literal["rcpt", "data"]
    action: Literal["reply", "drop", "stall"] = "reply"
    reply: str = ""


@dataclass
class FaultyHandler:
    faults: dict[str, Fault]
    stall_seconds: float = 3.0
    received: list[Received] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)
    data_seen: list[str] = field(default_factory=list)

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.peers.add(tuple(session.peer[:2]))
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        fault = self.faults.get(address)
        if fault is not None and fault.stage == "rcpt":
            return await self._act(server, fault)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        recipient = envelope.rcpt_tos[0]
        self.data_seen.append(recipient)
        fault = self.faults.get(recipient)
        if fault is not None and fault.stage == "data":
            return await self._act(server, fault)
        raw = envelope.original_content or envelope.content
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        return "250 2.0.0 OK queued"

    async def _act(self, server: Any, fault: Fault) -> str:
        if fault.action == "drop":
            server.transport.close()
            return "250 2.0.0 never heard"
        if fault.action == "stall":
            await asyncio.sleep(self.stall_seconds)
            return "250 2.0.0 too late"
        return fault.reply


class FaultySmtp:
    """``with FaultySmtp({addr: Fault(...)}) as server``; ``server.url`` is its URL."""

    def __init__(
        self, faults: dict[str, Fault], *, stall_seconds: float = 3.0, port: int = 0
    ) -> None:
        self.handler = FaultyHandler(dict(faults), stall_seconds)
        self._controller: Controller | None = None
        self.port = port  # 0: a free one

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def __enter__(self) -> FaultySmtp:
        if not self.port:
            with socket.create_server(("127.0.0.1", 0)) as probe:
                self.port = probe.getsockname()[1]
        self._controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="faulty-smtp",
            decode_data=False,
        )
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._controller is not None:
            self._controller.stop()
