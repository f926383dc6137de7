"""Admin UI users, with argon2id password hashes."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.contacts.fields import normalize_email
from engine.errors import Conflict, FieldProblem, InvalidInput
from engine.store.models import ROLES, User

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()


def create_user(
    session: Session,
    *,
    email: str,
    role: str,
    password: str,
    now: datetime,
    family_name: str | None = None,
    given_name: str | None = None,
    locale: str = "ja",
) -> User:
    """Add a user; raise InvalidInput naming the bad field, Conflict if the email is taken."""
    problems: list[FieldProblem] = []
    try:
        email = normalize_email(email)
    except ValueError as error:
        problems.append(FieldProblem("email", str(error)))
    if role not in ROLES:
        problems.append(FieldProblem("role", f"choose one of {', '.join(ROLES)}"))
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(
            FieldProblem("password", f"needs at least {MIN_PASSWORD_LENGTH} characters")
        )
    if problems:
        raise InvalidInput("cannot create user", problems=problems)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(
            f"a user with email {email!r} exists", problems=[FieldProblem("email", "taken")]
        )
    user = User(
        email=email,
        role=role,
        password_hash=_hasher.hash(password),
        family_name=family_name,
        given_name=given_name,
        locale=locale,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def verify_password(user: User, password: str) -> bool:
    """True if ``password`` is the user's; constant time, as argon2 verifies."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False
