"""Sign in, sign out and switch language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from admin.api.deps import get_database
from admin.ui.auth import (
    CurrentUser,
    SignedIn,
    check_csrf,
    check_login_token,
    end_session,
    login_token,
    optional_user,
    start_session,
)
from admin.ui.i18n import LANGUAGES
from admin.ui.pages import local_path, render
from admin.ui.throttle import LoginThrottle
from engine.auth.users import verify_password
from engine.clock import utcnow
from engine.contacts.fields import normalize_email
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import User

router = APIRouter(prefix="/admin", include_in_schema=False)


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _form(
    request: Request,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    cookies = Response()
    token = login_token(request, cookies)
    page = render(
        request,
        "admin_login.html",
        user=None,
        title_key="login",
        status=status,
        next_path=next_path,
        email=email,
        error=error,
        csrf=token,
    )
    for value in cookies.headers.getlist("set-cookie"):
        page.headers.append("set-cookie", value)
    return page


def _stored_form(email: str) -> str:
    # An address that does not parse cannot be a user's; look up something that matches none.
    try:
        return normalize_email(email)
    except ValueError:
        return ""


@router.get("/login")
def login_page(
    request: Request, user: Annotated[CurrentUser | None, Depends(optional_user)]
) -> Response:
    """The sign-in form (or straight on, when already signed in)."""
    next_path = local_path(request.query_params.get("next"))
    if user is not None:
        return RedirectResponse(next_path, status_code=303)
    return _form(request, next_path=next_path)


@router.post("/login")
def login(
    request: Request,
    database: Annotated[Database, Depends(get_database)],
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/admin/",
) -> Response:
    """Check the password (argon2); on success start a session and go to ``next``."""
    check_login_token(request, csrf)
    settings: Settings = request.app.state.settings
    throttle, client, now = _throttle(request), _client(request), utcnow()
    next_path = local_path(next)
    if throttle.blocked(email, client, now=now):
        return _form(request, next_path=next_path, email=email, error="login_throttled", status=429)
    with database.unit_of_work() as session:
        user = session.scalar(select(User).where(User.email == _stored_form(email)))
        if user is None or not user.is_active or not verify_password(user, password):
            throttle.failed(email, client, now=now)
            user = None
        else:
            user.last_login_at = now
            session.flush()
            throttle.succeeded(email, client)
            response = RedirectResponse(next_path, status_code=303)
            start_session(response, settings, user)
    if user is None:
        return _form(request, next_path=next_path, email=email, error="login_failed", status=401)
    return response


@router.post("/logout")
def logout(request: Request, user: SignedIn, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session and return to the sign-in page."""
    check_csrf(user, csrf)
    response = RedirectResponse("/admin/login", status_code=303)
    end_session(response, request.app.state.settings)
    return response


@router.post("/language")
def switch_language(
    user: SignedIn,
    database: Annotated[Database, Depends(get_database)],
    language: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form(max_length=2000)] = "/admin/",
) -> Response:
    """Keep the user's language choice on their account and show the page again."""
    check_csrf(user, csrf)
    if language in LANGUAGES:
        with database.unit_of_work() as session:
            stored = session.get(User, user.id)
            if stored is not None:
                stored.locale = language
    return RedirectResponse(local_path(next), status_code=303)
