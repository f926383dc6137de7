"""What actors and jobs of this process work with: settings, the database, the process."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ConfigurationError
from engine.operations.heartbeat import ProcessIdentity
from engine.settings import Settings
from engine.store.db import Database


@dataclass(frozen=True, slots=True)
class Runtime:
    """The open resources of one process, set once by the command that starts it."""

    settings: Settings
    database: Database
    process: ProcessIdentity


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
