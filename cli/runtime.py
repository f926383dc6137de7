"""Wiring shared by every command: settings, the database, and friendly fatal errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from engine.errors import ConfigurationError, NurtureError
from engine.settings import Settings
from engine.store.db import Database
from engine.store.migrate import current_revision, head_revision, require_current, upgrade

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)
T = TypeVar("T")


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print an error the way every command does and exit."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Read settings; a bad env var is reported by its NURTURE_ name."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"NURTURE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        fail(problems)


def open_database(settings: Settings) -> Database:
    """Open the database; embedded mode creates or migrates it, production must be current."""
    database = Database.from_settings(settings)
    try:
        if settings.embedded:
            if current_revision(database.engine) != head_revision(database.engine):
                upgrade(database.engine)
        else:
            require_current(database.engine)
    except ConfigurationError as error:
        fail(error.message)
    except Exception as error:  # an unreachable server is the common case: say where
        fail(f"cannot open the database {database.engine.url.render_as_string()}: {error}")
    return database


@contextmanager
def reported() -> Iterator[None]:
    """Turn engine errors into a message naming each bad field, and exit 1."""
    try:
        yield
    except NurtureError as error:
        details = "".join(f"\n  {p.field}: {p.message}" for p in error.problems)
        fail(f"{error.message}{details}")


def run(action: Callable[[], T]) -> T:
    """Call ``action`` with engine errors reported as in ``reported``."""
    with reported():
        return action()


def stdin_secret(prompt: str) -> str:
    """Read a secret from stdin: one line when piped, hidden input on a terminal."""
    if sys.stdin.isatty():
        value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
        return value
    return sys.stdin.readline().rstrip("\r\n")
