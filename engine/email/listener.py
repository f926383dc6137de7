"""An SMTP server of our own on a socket we bind first: the capture and the bounce receiver.

Binding before aiosmtpd starts makes port 0 work (any free port, for tests) and makes a
taken port fail at once with a message naming it, rather than inside aiosmtpd's thread.
"""

from __future__ import annotations

import socket
from typing import Any

from aiosmtpd.controller import Controller

from engine.errors import ConfigurationError


class _SocketController(Controller):
    """A Controller serving a socket we bound."""

    def __init__(
        self,
        handler: Any,
        listener: socket.socket,
        *,
        server_hostname: str,
        data_size_limit: int | None,
    ) -> None:
        host, port = listener.getsockname()[:2]
        options: dict[str, Any] = {}
        if data_size_limit is not None:
            options["data_size_limit"] = data_size_limit
        super().__init__(
            handler,
            hostname=host,
            port=port,
            server_hostname=server_hostname,  # given, so aiosmtpd skips getfqdn() (DNS)
            enable_SMTPUTF8=True,
            decode_data=False,  # keep bytes: 8BITMIME is announced and bodies stay exact
            **options,
        )
        self._listener = listener

    def _create_server(self) -> Any:
        return self.loop.create_server(
            self._factory_invoker, sock=self._listener, ssl=self.ssl_context
        )


class SmtpListener:
    """An aiosmtpd ``handler`` on ``host:port`` (port 0 = any free one), on its own thread.

    ``what`` names the server in errors ("the SMTP capture"); ``port_hint`` tells the user
    how to choose another port.
    """

    def __init__(
        self,
        handler: Any,
        *,
        host: str,
        port: int,
        what: str,
        port_hint: str,
        server_hostname: str,
        data_size_limit: int | None = None,
    ) -> None:
        self.handler = handler
        self.host = host
        self.requested_port = port
        self.what = what
        self.port_hint = port_hint
        self.server_hostname = server_hostname
        self.data_size_limit = data_size_limit
        self._controller: _SocketController | None = None

    @property
    def port(self) -> int:
        """The port actually listened on; raise RuntimeError before ``start``."""
        if self._controller is None:
            raise RuntimeError(f"{self.what} is not running")
        return int(self._controller.port)

    @property
    def address(self) -> str:
        """``host:port`` of the running server."""
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        """Listen and serve; raise ConfigurationError naming the port if it is taken."""
        try:
            listener = socket.create_server((self.host, self.requested_port))
        except OSError as error:
            raise ConfigurationError(
                f"{self.what} cannot listen on {self.host}:{self.requested_port}: "
                f"{error.strerror or error}; {self.port_hint}"
            ) from error
        controller = _SocketController(
            self.handler,
            listener,
            server_hostname=self.server_hostname,
            data_size_limit=self.data_size_limit,
        )
        try:
            controller.start()
        except BaseException:
            listener.close()
            raise
        self._controller = controller

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpListener:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
