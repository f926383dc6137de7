"""``nurture users`` and ``nurture apikeys``: who may use the UI and the API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from cli.runtime import load_settings, open_database, out, reported, stdin_secret
from engine.auth.apikeys import create_api_key, parse_scopes, revoke_api_key
from engine.auth.users import create_user
from engine.clock import utcnow
from engine.errors import NotFound
from engine.store.models import ApiKey, User

users = typer.Typer(help="Admin UI users.", no_args_is_help=True)
apikeys = typer.Typer(help="API keys.", no_args_is_help=True)


@users.command("create")
def users_create(
    email: str,
    role: Annotated[str, typer.Option(help="admin, marketer or sales")],
    family_name: Annotated[str | None, typer.Option(help="Family name (姓)")] = None,
    given_name: Annotated[str | None, typer.Option(help="Given name (名)")] = None,
    locale: Annotated[str, typer.Option(help="UI language: ja or en")] = "ja",
) -> None:
    """Create a user; the password is read from stdin (prompted twice on a terminal)."""
    password = stdin_secret("Password")
    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        user = create_user(
            session,
            email=email,
            role=role,
            password=password,
            now=utcnow(),
            family_name=family_name,
            given_name=given_name,
            locale=locale,
        )
        out.print(f"created {user.role} user {user.email}")


@users.command("list")
def users_list() -> None:
    """List users."""
    database = open_database(load_settings())
    table = Table("email", "role", "name", "active", "created")
    with database.sessions() as session:
        for user in session.scalars(select(User).order_by(User.email)):
            name = " ".join(p for p in (user.family_name, user.given_name) if p)
            table.add_row(
                user.email,
                user.role,
                name,
                "yes" if user.is_active else "no",
                user.created_at.strftime("%Y-%m-%d"),
            )
    out.print(table)


@apikeys.command("create")
def apikeys_create(
    name: str,
    scopes: Annotated[str, typer.Option(help="Comma-separated: admin, marketer, sales, ingest")],
    user: Annotated[
        str | None,
        typer.Option(help="Tie the key to this user; a sales-only key then sees only their leads"),
    ] = None,
) -> None:
    """Create an API key; the key alone is printed on the last line of stdout."""
    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        user_id = None
        if user is not None:
            user_id = session.scalar(select(User.id).where(User.email == user.strip().lower()))
            if user_id is None:
                raise NotFound(f"no user {user!r}; create one with: nurture users create")
        key = create_api_key(
            session, name=name, scopes=parse_scopes(scopes), now=utcnow(), user_id=user_id
        )
    typer.echo(f"created API key {name!r} with scopes {scopes}; it is shown only once:")
    typer.echo(key)


@apikeys.command("list")
def apikeys_list() -> None:
    """List API keys (prefixes only; secrets are never stored)."""
    database = open_database(load_settings())
    table = Table("prefix", "name", "scopes", "created", "last used", "revoked")
    with database.sessions() as session:
        for key in session.scalars(select(ApiKey).order_by(ApiKey.created_at)):
            table.add_row(
                key.prefix,
                key.name,
                ",".join(key.scopes),
                key.created_at.strftime("%Y-%m-%d"),
                key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "-",
                key.revoked_at.strftime("%Y-%m-%d") if key.revoked_at else "",
            )
    out.print(table)


@apikeys.command("revoke")
def apikeys_revoke(
    prefix: Annotated[str, typer.Argument(help="The part after nk_ (see list)")],
) -> None:
    """Revoke a key at once."""
    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        revoke_api_key(session, prefix=prefix, now=utcnow())
    out.print(f"revoked {prefix}")
