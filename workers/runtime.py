"""What actors and jobs of this process work with: settings, the database, the process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from engine.clock import utcnow
from engine.errors import ConfigurationError
from engine.operations.heartbeat import ProcessIdentity
from engine.runtime.journeys import CompiledJourneys
from engine.settings import Settings
from engine.store.db import Database


@dataclass(frozen=True, slots=True)
class Runtime:
    """The open resources of one process, set once by the command that starts it.

    ``clock`` is the time actors and jobs act at: the wall clock, or a test's.
    """

    settings: Settings
    database: Database
    process: ProcessIdentity
    journeys: CompiledJourneys = field(default_factory=CompiledJourneys)
    clock: Callable[[], datetime] = utcnow
    #: The port this process's SMTP capture listens on (``nurture up``); None: the setting's.
    capture_port: int | None = None

    @property
    def smtp_url(self) -> str:
        """Where mail goes: ``NURTURE_SMTP_URL``, else (embedded) this process's SMTP capture."""
        from engine.email.capture import effective_smtp_url  # aiosmtpd loads only when mailing

        port = self.capture_port
        return effective_smtp_url(
            self.settings, port if port is not None else self.settings.capture_smtp_port
        )

    @property
    def message_domain(self) -> str:
        """The domain of the Message-IDs this installation creates (the public URL's host)."""
        return urlsplit(self.settings.public_url).hostname or "localhost"


_runtime: Runtime | None = None


def install(runtime: Runtime) -> None:
    """Make ``runtime`` the one actors of this process use."""
    global _runtime
    _runtime = runtime


def uninstall() -> None:
    """Forget the runtime (tests, and the end of a process)."""
    global _runtime
    _runtime = None


def current() -> Runtime:
    """Return the installed runtime; raise ConfigurationError when none is."""
    if _runtime is None:
        raise ConfigurationError(
            "no runtime installed: the command must call workers.runtime.install"
        )
    return _runtime
