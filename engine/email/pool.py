"""A process's persistent SMTP connections to one server, shared by every batch it sends.

Worker threads hand batches to one event loop in a background thread, where the
connections live between batches; a batch goes out over up to ``size`` connections at once.
A connection that failed a transaction is reset (RSET) before reuse; one that dropped or
answered 421 is closed and a new one opened. A connection found dead on MAIL FROM is
replaced and the message tried once more: nothing of it was sent. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import aiosmtplib
import uvloop
from aiosmtplib import SMTPResponse, SMTPStatus

from engine.email.smtp import Outcome, Outgoing, SmtpServer, classify

log = logging.getLogger(__name__)
T = TypeVar("T")
Stage = Literal["mail", "rcpt", "data"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to wait to connect (and log in), for each command's reply, and for DATA's."""

    connect: float = 30.0
    command: float = 30.0
    data: float = 120.0

    def message(self) -> float:
        """The longest one message can take: connect, MAIL, RCPT, DATA, and a spare."""
        return self.connect + 3 * self.command + self.data


class ConnectionPool:
    """Up to ``size`` open connections to ``server``; use only on the pool's loop."""

    def __init__(self, server: SmtpServer, *, size: int, timeouts: Timeouts) -> None:
        self.server = server
        self.size = size
        self.timeouts = timeouts
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(size)

    @property
    def idle(self) -> int:
        """Connections open and waiting for the next message."""
        return len(self._idle)

    async def send(self, item: Outgoing) -> Outcome:
        """Hand one message over on a pooled connection; never raises."""
        async with self._slots:
            while self._idle:
                client = self._idle.pop()
                if not client.is_connected:
                    continue
                outcome = await self._transact(client, item, reused=True)
                if outcome is not None:
                    return outcome
            client, failure = await self._connect()
            if failure is not None:
                return failure
            outcome = await self._transact(client, item, reused=False)
            assert outcome is not None  # a fresh connection is never retried
            return outcome

    async def close(self) -> None:
        """Say QUIT on every idle connection."""
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit(timeout=self.timeouts.command)
            except (aiosmtplib.SMTPException, OSError):
                client.close()

    async def _connect(self) -> tuple[aiosmtplib.SMTP, Outcome | None]:
        server = self.server
        client = aiosmtplib.SMTP(
            hostname=server.hostname,
            port=server.port,
            use_tls=server.use_tls,
            start_tls=server.start_tls,
            username=server.username,
            password=server.password,
            timeout=self.timeouts.connect,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as error:
            client.close()
            return client, Outcome(
                "deferred", error.code, f"login to {server.describe()} refused: {error.message}"
            )
        except aiosmtplib.SMTPResponseException as error:
            client.close()
            outcome = classify(error.code, error.message, stage="mail")
            # A refusal to talk at all is about the server, never the recipient.
            if outcome.verdict != "blocked":
                outcome = Outcome("deferred", outcome.code, outcome.reply)
            return client, outcome
        except (aiosmtplib.SMTPException, OSError) as error:
            client.close()
            reason = f"cannot reach {server.describe()}: {error or type(error).__name__}"
            return client, Outcome("deferred", None, reason)
        client.timeout = self.timeouts.command
        return client, None

    async def _transact(
        self, client: aiosmtplib.SMTP, item: Outgoing, *, reused: bool
    ) -> Outcome | None:
        """MAIL, RCPT, DATA; None when a reused connection was dead before anything was sent."""
        stage: Stage = "mail"
        timeouts = self.timeouts
        try:
            await client.mail(item.sender, timeout=timeouts.command)
            stage = "rcpt"
            await client.rcpt(item.recipient, timeout=timeouts.command)
            stage = "data"
            response = await _data(client, item.data, timeout=timeouts.data)
        except aiosmtplib.SMTPResponseException as error:
            outcome = classify(error.code, error.message, stage=stage)
            if error.code == 421:  # the server is closing this connection
                client.close()
            else:
                await self._reset(client)
            return outcome
        except (aiosmtplib.SMTPException, OSError) as error:  # dropped, timed out
            client.close()
            if reused and stage == "mail":
                return None
            return Outcome("deferred", None, f"{stage}: {type(error).__name__}: {error}")
        except ValueError as error:  # an address aiosmtplib will not put on the wire
            await self._reset(client)
            return Outcome("failed", None, f"cannot send to {item.recipient!r}: {error}")
        self._idle.append(client)  # a finished DATA ends the transaction: no RSET needed
        return Outcome("sent", response.code, " ".join(response.message.split()))

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        """RSET a connection after a failed transaction, and keep it if it answers."""
        if not client.is_connected:
            return
        try:
            await client.rset(timeout=self.timeouts.command)
        except (aiosmtplib.SMTPException, OSError):
            client.close()
            return
        self._idle.append(client)


async def _data(client: aiosmtplib.SMTP, data: bytes, *, timeout: float) -> SMTPResponse:
    """DATA, then the message; the same replies and errors as ``client.data``.

    aiosmtplib runs two regexes over every message (line ends to CRLF, dots stuffed), a
    fifth of the sending thread's time. Mail as composed here already has CRLF line ends
    and no line starting with a dot, which a few counts and a search confirm in a few
    microseconds; anything else goes through ``client.data`` as it is.
    """
    crlf = data.count(b"\r\n")
    if not data.endswith(b"\r\n") or data.count(b"\r") != crlf or data.count(b"\n") != crlf:
        return await client.data(data, timeout=timeout)
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")  # a dot-stuffed line (rare: no copy without)
    start = await client.execute_command(b"DATA", timeout=timeout)
    if start.code != SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    protocol.write(data + b".\r\n")  # nothing is awaited before the reply is read
    response = await protocol.read_response(timeout=timeout)
    if response.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response


class _Loop:
    """The process's one event loop for SMTP, in a daemon thread started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = uvloop.new_event_loop()  # a third less loop overhead per message
                threading.Thread(target=loop.run_forever, name="smtp-pool", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float) -> T:
        """Run ``coroutine`` on the loop from another thread; wait at most ``timeout`` s."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.get())
        return future.result(timeout=timeout)


loop = _Loop()
_pools: dict[tuple[SmtpServer, int, Timeouts], ConnectionPool] = {}
_pools_lock = threading.Lock()


def pool_for(server: SmtpServer, *, size: int, timeouts: Timeouts) -> ConnectionPool:
    """The process's pool of connections to ``server`` (made on first use)."""
    key = (server, size, timeouts)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ConnectionPool(server, size=size, timeouts=timeouts)
        return pool


def close_all(timeout: float = 5.0) -> None:
    """QUIT every pooled connection, waiting at most ``timeout`` s (at worker shutdown; tests).

    Never raises: a server that does not answer QUIT in time only loses the courtesy.
    """
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()

    async def quit_all() -> None:
        await asyncio.gather(*(p.close() for p in pools))

    if not pools:
        return
    try:
        loop.run(quit_all(), timeout=timeout)
    except TimeoutError:  # concurrent.futures.TimeoutError is this one since Python 3.11
        log.warning("SMTP connections not closed within %.0f s; leaving them", timeout)
