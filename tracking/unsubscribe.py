"""One-click unsubscribe (RFC 8058): ``GET /u/{token}`` asks, ``POST /u/{token}`` does it.

Public: no key, no cookie, no session. The token is signed, so it names one message and
cannot be guessed or altered; a bad one gets a 404 page. A GET (a link scanner, a
prefetch) never unsubscribes anyone: only the POST that a mailbox provider sends for
``List-Unsubscribe-Post`` or the button on the confirmation page does.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse

from engine.clock import utcnow
from engine.email.templates.filters import language
from engine.email.unsubscribe import UnsubscribeTarget, find_target, read_token, unsubscribe
from engine.errors import NotFound
from engine.store.db import Database
from tracking.preferences import preferences_section

router = APIRouter(tags=["tracking"], include_in_schema=False)

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_TEXT = {
    "ja": {
        "title": "配信停止",
        "ask_topic": "「{topic}」のメール配信を停止します。よろしければ下のボタンを押してください。",
        "ask_all": "今後、このアドレスへのメール配信をすべて停止します。よろしければ下のボタンを押してください。",
        "button": "配信を停止する",
        "done_topic": "「{topic}」のメール配信を停止しました。",
        "done_all": "メール配信を停止しました。今後このアドレスにはお送りしません。",
        "already": "このメールの配信はすでに停止されています。",
        "invalid_title": "リンクが無効です",
        "invalid": "この配信停止リンクは無効です。メールに記載されたリンクをそのままお使いください。",
    },
    "en": {
        "title": "Unsubscribe",
        "ask_topic": "Stop emails about “{topic}”? Press the button to confirm.",
        "ask_all": "Stop all emails to this address? Press the button to confirm.",
        "button": "Unsubscribe",
        "done_topic": "You are unsubscribed from “{topic}”.",
        "done_all": "You are unsubscribed. We will not email this address again.",
        "already": "You are already unsubscribed from these emails.",
        "invalid_title": "Link not valid",
        "invalid": "This unsubscribe link is not valid. Use the link exactly as it appears in the email.",
    },
}


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(_database)]


@router.get("/u/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request, database: DatabaseDep) -> HTMLResponse:
    """Show what the link unsubscribes, with a button that POSTs; change nothing."""
    try:
        uid = read_token(token, request.app.state.settings.signing_keys())
        with database.sessions() as session:
            target = find_target(session, uid, now=utcnow())
    except NotFound:
        return _invalid()
    text = _TEXT[_language(request, target)]
    if target.already:
        body = f"<p>{escape(text['already'])}</p>"
    else:
        ask = text["ask_topic"] if target.topic else text["ask_all"]
        body = (
            f"<p>{escape(ask.format(topic=target.topic or ''))}</p>"
            f'<form method="post" action="/u/{escape(token)}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            f'<button type="submit">{escape(text["button"])}</button></form>'
        )
    with database.sessions() as session:  # the preference center: every topic, a checkbox each
        settings = request.app.state.settings
        body += preferences_section(session, settings, uid, token, _language(request, target))
    return _page(text["title"], body, _language(request, target))


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe_now(
    token: str, request: Request, database: DatabaseDep, background: BackgroundTasks
) -> HTMLResponse:
    """Withdraw consent at once (RFC 8058 ``List-Unsubscribe=One-Click``, or the page's button)."""
    try:
        uid = read_token(token, request.app.state.settings.signing_keys())
        with database.unit_of_work() as session:
            target = unsubscribe(
                session, uid, now=utcnow(), ip=request.client.host if request.client else None
            )
    except NotFound:
        return _invalid()
    relay = getattr(request.app.state, "relay", None)
    if relay is not None:  # journeys see the withdrawal now, not at the next relay round
        background.add_task(relay)
    text = _TEXT[_language(request, target)]
    if target.already:
        message = text["already"]
    else:
        done = text["done_topic"] if target.topic else text["done_all"]
        message = done.format(topic=target.topic or "")
    return _page(text["title"], f"<p>{escape(message)}</p>", _language(request, target))


def _language(request: Request, target: UnsubscribeTarget | None) -> str:
    if target is not None and target.locale:
        return language(target.locale)
    accepted = request.headers.get("accept-language", "")
    return language(accepted.split(",")[0].split(";")[0].strip() or None)


def _invalid() -> HTMLResponse:
    """The 404 page: no contact to go by, so it speaks both languages."""
    ja, en = _TEXT["ja"], _TEXT["en"]
    body = f'<p>{escape(ja["invalid"])}</p><p lang="en">{escape(en["invalid"])}</p>'
    return _page(f"{ja['invalid_title']} / {en['invalid_title']}", body, "ja", 404)


def _page(title: str, body: str, lang: str, status: int = 200) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,'Hiragino Kaku Gothic ProN',Meiryo,sans-serif;"
        "max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.7;color:#1f2937}"
        "button{font-size:1rem;padding:.6rem 1.6rem;border:0;border-radius:4px;"
        "background:#2f6fde;color:#fff;cursor:pointer}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)
