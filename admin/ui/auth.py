"""Who is signed in to the admin UI, and what they may see.

A session is a signed cookie (itsdangerous, with the app's signing key) holding the user's
id, a CSRF token, and a fingerprint of their password hash so changing the password signs
every browser out. Each request reloads the user, so a deactivated user is out at once.
Pages declare who may see them with ``require_role(...)``; every form that changes
something carries ``csrf`` and is checked with ``check_csrf``.

    @router.get("/admin/leads")
    def leads(user: Annotated[CurrentUser, Depends(require_role("admin", "sales"))]): ...
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from admin.api.deps import get_database
from admin.ui.i18n import Formats, pick_language, zone_for
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import User

SESSION_COOKIE = "nurture_session"
LOGIN_COOKIE = "nurture_login"
LANGUAGE_COOKIE = "nurture_lang"
#: A session lasts this long after sign-in.
SESSION_AGE = timedelta(hours=12)


class LoginRequired(Exception):
    """Raised when a page needs a signed-in user and there is none (redirects to sign-in)."""


class RoleRequired(Exception):
    """Raised when the signed-in user's role may not see the page (403 page)."""

    def __init__(self, user: CurrentUser) -> None:
        super().__init__(f"role {user.role!r} may not see this page")
        self.user = user


class CsrfRejected(Exception):
    """Raised when a form's ``csrf`` field does not match the session's token (403 page)."""


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The signed-in user as pages need them."""

    id: int
    email: str
    role: str
    name: str
    language: str
    timezone: ZoneInfo
    csrf: str

    @property
    def formats(self) -> Formats:
        """Number and date formats for this user."""
        return Formats(self.language, self.timezone)


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and accepts any: oldest first.
    return URLSafeTimedSerializer(list(reversed(settings.signing_keys())), salt=salt)


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def secure_cookies(settings: Settings) -> bool:
    """Cookies are ``Secure`` when the public URL is https."""
    return settings.public_url.startswith("https://")


def start_session(response: Response, settings: Settings, user: User) -> None:
    """Sign ``user`` in on this response: a fresh session cookie with a fresh CSRF token."""
    token = _serializer(settings, "admin-session").dumps(
        {"u": user.id, "c": secrets.token_urlsafe(24), "f": _fingerprint(user.password_hash)}
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_AGE.total_seconds()),
        path="/",
        secure=secure_cookies(settings),
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/admin/login")


def end_session(response: Response, settings: Settings) -> None:
    """Sign out: drop the session cookie."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=secure_cookies(settings), httponly=True, samesite="lax"
    )


def login_token(request: Request, response: Response) -> str:
    """The sign-in form's CSRF token, kept in a short-lived signed cookie of its own."""
    settings = _settings(request)
    serializer = _serializer(settings, "admin-login")
    try:
        token = str(serializer.loads(request.cookies.get(LOGIN_COOKIE, ""), max_age=3600))
    except BadSignature:
        token = secrets.token_urlsafe(24)
    response.set_cookie(
        LOGIN_COOKIE,
        serializer.dumps(token),
        max_age=3600,
        path="/admin/login",
        secure=secure_cookies(settings),
        httponly=True,
        samesite="strict",
    )
    return token


def check_login_token(request: Request, submitted: str) -> None:
    """Raise CsrfRejected unless ``submitted`` is the token in the sign-in cookie."""
    try:
        token = str(
            _serializer(_settings(request), "admin-login").loads(
                request.cookies.get(LOGIN_COOKIE, ""), max_age=3600
            )
        )
    except BadSignature as error:
        raise CsrfRejected("no sign-in form token") from error
    if not hmac.compare_digest(token, submitted):
        raise CsrfRejected("sign-in form token mismatch")


def optional_user(
    request: Request, database: Annotated[Database, Depends(get_database)]
) -> CurrentUser | None:
    """The signed-in user, or None (no cookie, bad or old signature, user gone or inactive)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        data = _serializer(_settings(request), "admin-session").loads(
            cookie, max_age=int(SESSION_AGE.total_seconds())
        )
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    with database.sessions() as session:
        user = session.get(User, data["u"])
        if user is None or not user.is_active:
            return None
        if not hmac.compare_digest(_fingerprint(user.password_hash), str(data.get("f"))):
            return None
        language = user.locale.split("-")[0].lower() if user.locale else ""
        if language not in ("ja", "en"):
            language = pick_language(request.headers.get("accept-language"))
        return CurrentUser(
            id=user.id,
            email=user.email,
            role=user.role,
            name=Formats(language, ZoneInfo("UTC")).name(user.given_name, user.family_name)
            or user.email,
            language=language,
            timezone=zone_for(user.timezone, language),
            csrf=str(data.get("c", "")),
        )


def current_user(
    user: Annotated[CurrentUser | None, Depends(optional_user)],
) -> CurrentUser:
    """The signed-in user; raise LoginRequired (a redirect to sign-in) when there is none."""
    if user is None:
        raise LoginRequired()
    return user


def require_role(*roles: str) -> Callable[[CurrentUser], CurrentUser]:
    """A dependency admitting signed-in users whose role is one of ``roles``."""

    def check(user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
        if user.role not in roles:
            raise RoleRequired(user)
        return user

    return check


def check_csrf(user: CurrentUser, submitted: str) -> None:
    """Raise CsrfRejected unless ``submitted`` is the session's CSRF token."""
    if not user.csrf or not hmac.compare_digest(user.csrf.encode(), submitted.encode()):
        raise CsrfRejected("form token mismatch")


SignedIn = Annotated[CurrentUser, Depends(current_user)]
#: Marketing pages: admins and marketers (sales users see their leads only).
Marketing = Annotated[CurrentUser, Depends(require_role("admin", "marketer"))]
AdminOnly = Annotated[CurrentUser, Depends(require_role("admin"))]
