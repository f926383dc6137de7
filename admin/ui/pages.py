"""Render admin pages: one Jinja environment, one layout, the same security headers on all.

Every value is escaped by Jinja (autoescape); pages run no inline script and load nothing
from elsewhere, which the Content-Security-Policy enforces in the browser as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from admin.ui.auth import CsrfRejected, CurrentUser, LoginRequired, RoleRequired
from admin.ui.i18n import LANGUAGES, Formats, pick_language, words, zone_for
from engine.settings import Settings

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

#: Admin pages: our own scripts, styles and images only; forms post back here; never framed.
ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": ADMIN_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def language_of(request: Request, user: CurrentUser | None) -> str:
    """The user's language; before sign-in ``?lang=``, then the Accept-Language header."""
    if user is not None:
        return user.language
    asked = request.query_params.get("lang", "")
    return asked if asked in LANGUAGES else pick_language(request.headers.get("accept-language"))


def render(
    request: Request,
    template: str,
    *,
    user: CurrentUser | None,
    title_key: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` in the user's language inside the shared layout."""
    language = language_of(request, user)
    settings: Settings = request.app.state.settings
    t = words(language)
    html = _templates.get_template(template).render(
        lang=language,
        t=t,
        title=t[title_key],
        user=user,
        f=user.formats if user else Formats(language, zone_for(None, language)),
        embedded=settings.embedded,
        path=request.url.path,
        **context,
    )
    headers = {**SECURITY_HEADERS, "Content-Language": language}
    return HTMLResponse(html, status_code=status, headers=headers)


def local_path(target: str | None, default: str = "/admin/") -> str:
    """``target`` if it is a path on this site under /admin, else ``default`` (no open redirect)."""
    if target and target.startswith("/admin") and "//" not in target and "\\" not in target:
        return target
    return default


def install(app: FastAPI) -> None:
    """Turn LoginRequired into a redirect to sign-in, RoleRequired and CsrfRejected into 403."""

    async def login_required(request: Request, _: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/admin/login?next={quote(target, safe='')}", status_code=303)

    async def forbidden(request: Request, error: Exception) -> Response:
        user = error.user if isinstance(error, RoleRequired) else None
        key = "csrf_failed" if isinstance(error, CsrfRejected) else "forbidden"
        return render(
            request, "admin_message.html", user=user, title_key=key, status=403, message_key=key
        )

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(RoleRequired, forbidden)
    app.add_exception_handler(CsrfRejected, forbidden)
