"""FastAPI dependencies: the database session and the caller's API key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy.orm import Session

from engine.auth.apikeys import Principal, authenticate
from engine.clock import utcnow
from engine.errors import PermissionDenied, Unauthenticated
from engine.store.db import Database


def get_database(request: Request) -> Database:
    """The process's database, set on the app at start-up."""
    database: Database = request.app.state.database
    return database


def get_session(database: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """One session per request; the view commits, anything uncommitted is rolled back."""
    with database.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    request: Request, database: Annotated[Database, Depends(get_database)]
) -> Principal:
    """Check ``Authorization: Bearer nk_...`` in a short transaction of its own."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send an API key as: Authorization: Bearer nk_...")
    with database.unit_of_work() as session:
        return authenticate(session, token.strip(), now=utcnow())


def require(*scopes: str) -> Callable[[Principal], Principal]:
    """A dependency that admits keys holding ``admin`` or any of ``scopes``."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.allows(*scopes):
            needed = " or ".join(("admin", *scopes))
            raise PermissionDenied(f"this API key lacks the scope for this call (needs {needed})")
        return principal

    return check


Ingest = Annotated[Principal, Depends(require("marketer", "ingest"))]
Reader = Annotated[Principal, Depends(require("marketer", "sales"))]
Writer = Annotated[Principal, Depends(require("marketer"))]
Admin = Annotated[Principal, Depends(require())]


def relay_after_response(request: Request, background: BackgroundTasks) -> None:
    """Hand what this request put in the outbox to the workers once the response is sent.

    The composition root sets ``app.state.relay`` where a broker exists; without one the
    scheduler's relay picks the rows up within a second.
    """
    relay = getattr(request.app.state, "relay", None)
    if relay is not None:
        background.add_task(relay)


Relay = Annotated[None, Depends(relay_after_response)]
