"""API keys: ``nk_<prefix>_<secret>``; the prefix finds the row, a SHA-256 checks the secret.

Keys are random 256-bit values, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import FieldProblem, InvalidInput, NotFound, Unauthenticated
from engine.store.models import SCOPES, ApiKey

_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is a hint, not worth a write per request


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's name, scopes and, for a personal key, its user."""

    key_id: int
    name: str
    scopes: frozenset[str]
    user_id: int | None

    def allows(self, *scopes: str) -> bool:
        """True if the key holds ``admin`` or any of ``scopes``."""
        return "admin" in self.scopes or not self.scopes.isdisjoint(scopes)


def parse_scopes(text: str | Iterable[str]) -> list[str]:
    """Read ``admin,marketer`` into a list, refusing unknown scopes by name."""
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = sorted({s.strip() for s in items if s.strip()})
    choices = ", ".join(SCOPES)
    if not scopes:
        raise InvalidInput("no scopes", problems=[FieldProblem("scopes", f"give one of {choices}")])
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidInput(
            "unknown scopes",
            problems=[
                FieldProblem("scopes", f"unknown scope {s!r}; choose from {choices}")
                for s in unknown
            ],
        )
    return scopes


def create_api_key(
    session: Session, *, name: str, scopes: list[str], now: datetime, user_id: int | None = None
) -> str:
    """Store a new key and return it in full: the only time the secret is seen."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            name=name,
            prefix=prefix,
            secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
            scopes=scopes,
            user_id=user_id,
            created_at=now,
        )
    )
    return f"nk_{prefix}_{secret}"


def authenticate(session: Session, token: str, *, now: datetime) -> Principal:
    """Return the principal of a valid, unrevoked key; raise Unauthenticated otherwise."""
    kind, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if kind != "nk" or not prefix or not secret:
        raise Unauthenticated("malformed API key; expected nk_<prefix>_<secret>")
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if key is None or not hmac.compare_digest(digest, key.secret_sha256) or key.revoked_at:
        raise Unauthenticated("unknown or revoked API key")
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
        key.last_used_at = now
    return Principal(key.id, key.name, frozenset(key.scopes), key.user_id)


def revoke_api_key(session: Session, *, prefix: str, now: datetime) -> None:
    """Revoke a key by its prefix (the part after ``nk_``); raise NotFound if unknown."""
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if key is None:
        raise NotFound(f"no API key with prefix {prefix!r}")
    key.revoked_at = now
