"""A real SMTP server on a free loopback port whose replies a test scripts (aiosmtpd)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    """One message the server accepted, as it arrived."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)


@dataclass
class Script:
    """Replies to give, in order, before answering 250; ``rcpt`` and ``data`` separately."""

    rcpt: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)


class ScriptedHandler:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.received: list[Received] = []
        self.refused: list[str] = []

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.script.rcpt:
            reply = self.script.rcpt.pop(0)
            self.refused.append(reply)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.script.data:
            reply = self.script.data.pop(0)
            self.refused.append(reply)
            return reply
        raw = envelope.original_content or envelope.content
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        return "250 2.0.0 OK queued"


class _Controller(Controller):
    def __init__(
        self, handler: ScriptedHandler, listener: socket.socket, login: tuple[str, str] | None
    ) -> None:
        host, port = listener.getsockname()[:2]
        auth: dict[str, Any] = {}
        if login is not None:
            auth = {
                "auth_required": True,
                "auth_require_tls": False,  # loopback test: no certificate to offer
                "authenticator": _Authenticator(*login),
            }
        super().__init__(
            handler,
            hostname=host,
            port=port,
            server_hostname="test-smtp",
            enable_SMTPUTF8=True,
            decode_data=False,
            **auth,
        )
        self._listener = listener

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._listener)


class _Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.login = (user.encode(), password.encode())

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = isinstance(data, LoginPassword) and (data.login, data.password) == self.login
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    """Start with ``with SmtpServer() as server``; ``server.url`` is its ``smtp://`` URL.

    ``login`` = (user, password) makes the server require AUTH.
    """

    def __init__(self, script: Script | None = None, login: tuple[str, str] | None = None) -> None:
        self.handler = ScriptedHandler(script or Script())
        self.login = login
        self._controller: _Controller | None = None

    @property
    def script(self) -> Script:
        return self.handler.script

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def port(self) -> int:
        assert self._controller is not None
        return int(self._controller.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpServer:
        listener = socket.create_server(("127.0.0.1", 0))
        self._controller = _Controller(self.handler, listener, self.login)
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._controller is not None:
            self._controller.stop()
