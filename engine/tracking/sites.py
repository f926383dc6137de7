"""Web sites allowed to send page views, events and identifies through the snippet."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import FieldProblem, InvalidInput
from engine.store.models import Site


def normalize_origin(origin: str) -> str:
    """Return ``scheme://host[:port]`` for an origin or URL; raise ValueError when it is not one."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{origin!r} is not an http(s) origin such as https://www.example.jp")
    default = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    host = parts.hostname.encode("idna").decode("ascii")
    return f"{parts.scheme}://{host}{port}"


def create_site(
    session: Session, *, name: str, origins: Sequence[str], respect_dnt: bool, now: datetime
) -> Site:
    """Register a site with a new public key; raise InvalidInput naming each bad origin."""
    problems = []
    normalized = []
    for i, origin in enumerate(origins):
        try:
            normalized.append(normalize_origin(origin))
        except ValueError as error:
            problems.append(FieldProblem(f"origins[{i}]", str(error)))
    if not normalized and not problems:
        problems.append(FieldProblem("origins", "name at least one origin the snippet runs on"))
    if not name.strip():
        problems.append(FieldProblem("name", "must not be empty"))
    if problems:
        raise InvalidInput("the site is not valid", problems=problems)
    site = Site(
        site_key="sk_" + secrets.token_urlsafe(18),
        name=name.strip(),
        allowed_origins=sorted(set(normalized)),
        respect_dnt=respect_dnt,
        active=True,
        created_at=now,
    )
    session.add(site)
    session.flush()
    return site


def list_sites(session: Session) -> list[Site]:
    """Every registered site, oldest first."""
    return list(session.scalars(select(Site).order_by(Site.id)))


def active_sites(session: Session) -> dict[str, tuple[frozenset[str], bool]]:
    """Active sites by key: their allowed origins and whether they honour Do-Not-Track."""
    return {
        key: (frozenset(origins), dnt)
        for key, origins, dnt in session.execute(
            select(Site.site_key, Site.allowed_origins, Site.respect_dnt).where(Site.active)
        )
    }
