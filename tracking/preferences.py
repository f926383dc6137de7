"""The preference center: the topics a recipient gets, on the page behind their unsubscribe link.

``GET /u/{token}`` (tracking/unsubscribe.py) shows the one-click button and, under it, this
form; it changes nothing. ``POST /u/{token}/preferences`` saves the form. No cookie and no
session: the signed token in the URL is the credential, as it is for the one-click POST, so
there is no session for another site to ride; the form posts only to this origin (CSP
``form-action 'self'``).
"""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.email.preferences import (
    Preferences,
    load_preferences,
    save_preferences,
    template_topics,
    topic_labels,
)
from engine.email.templates import TemplateStore
from engine.email.templates.filters import language
from engine.email.unsubscribe import read_token
from engine.errors import NotFound
from engine.settings import Settings
from engine.store.db import Database

router = APIRouter(tags=["tracking"], include_in_schema=False)

#: The longest form body a preference save may send (topics are short ids).
MAX_FORM = 16_384
_TEXT = {
    "ja": {
        "title": "配信設定",
        "intro": "受け取るメールの種類を選んで「設定を保存」を押してください。",
        "stop_all": "すべてのメール配信を停止する",
        "save": "設定を保存",
        "saved": "配信設定を保存しました。",
        "stopped": "すべてのメール配信を停止しました。",
        "invalid": "このリンクは無効です。メールに記載されたリンクをそのままお使いください。",
    },
    "en": {
        "title": "Email preferences",
        "intro": "Choose the emails you want, then press “Save preferences”.",
        "stop_all": "Stop all emails",
        "save": "Save preferences",
        "saved": "Your preferences are saved.",
        "stopped": "All emails to this address are stopped.",
        "invalid": "This link is not valid. Use the link exactly as it appears in the email.",
    },
}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


@cache
def _offered(templates_dir: Path) -> tuple[str, ...]:
    """The topics the templates name, read once per process."""
    return tuple(template_topics(TemplateStore(templates_dir)))


def offered_topics(settings: Settings) -> list[str]:
    """Topics anyone may choose: those the templates' front matter names."""
    return list(_offered(settings.templates_dir))


def preferences_section(
    session: Session, settings: Settings, uid: str, token: str, lang: str
) -> str:
    """The form of topics with checkboxes, for the unsubscribe page; reads only."""
    try:
        preferences = load_preferences(session, uid, offered_topics(settings), now=utcnow())
    except NotFound:
        return ""
    return _form(preferences, token, lang, _labels(settings))


@router.post("/u/{token}/preferences", response_class=HTMLResponse)
async def save(token: str, request: Request, background: BackgroundTasks) -> HTMLResponse:
    """Save the checked topics (or stop all mail) at once, with consent history."""
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.database
    accepted = _accepted(request)
    body = await request.body()
    if len(body) > MAX_FORM:
        return _page(_TEXT[accepted]["title"], "<p>form too large</p>", accepted, 413)
    form = parse_qs(body.decode("utf-8", "replace"))
    try:
        uid = read_token(token, settings.signing_keys())
        with database.unit_of_work() as session:
            saved = save_preferences(
                session,
                uid,
                offered_topics(settings),
                chosen=set(form.get("topic", [])),
                stop_all=form.get("stop_all") == ["1"],
                now=utcnow(),
                ip=request.client.host if request.client else None,
            )
    except NotFound:
        text = _TEXT[accepted]
        return _page(text["title"], f"<p>{escape(text['invalid'])}</p>", accepted, 404)
    relay = getattr(request.app.state, "relay", None)
    if relay is not None:  # journeys see the change now, not at the next relay round
        background.add_task(relay)
    lang = language(saved.locale) if saved.locale else accepted
    text = _TEXT[lang]
    done = text["stopped"] if saved.stopped else text["saved"]
    form_html = _form(saved, token, lang, _labels(settings))
    return _page(text["title"], f"<p><strong>{escape(done)}</strong></p>{form_html}", lang)


def _accepted(request: Request) -> str:
    accepted = request.headers.get("accept-language", "")
    return language(accepted.split(",")[0].split(";")[0].strip() or None)


def _labels(settings: Settings) -> dict[str, dict[str, str]]:
    return topic_labels(settings.journeys_dir / "topics.yaml")


def _form(
    preferences: Preferences, token: str, lang: str, labels: dict[str, dict[str, str]]
) -> str:
    text = _TEXT[lang]
    rows = "".join(
        f'<label><input type="checkbox" name="topic" value="{escape(topic)}"'
        f"{' checked' if on else ''}> {escape(labels.get(topic, {}).get(lang, topic))}</label><br>"
        for topic, on in preferences.topics.items()
    )
    stop = (
        f'<label><input type="checkbox" name="stop_all" value="1"'
        f"{' checked' if preferences.stopped else ''}> {escape(text['stop_all'])}</label>"
    )
    return (
        f"<h2>{escape(text['title'])}</h2><p>{escape(text['intro'])}</p>"
        f'<form method="post" action="/u/{escape(token)}/preferences">'
        f"<fieldset>{rows}</fieldset><p>{stop}</p>"
        f'<button type="submit">{escape(text["save"])}</button></form>'
    )


def _page(title: str, body: str, lang: str, status: int = 200) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,'Hiragino Kaku Gothic ProN',Meiryo,sans-serif;"
        "max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.7;color:#1f2937}"
        "fieldset{border:1px solid #d1d5db;border-radius:4px;padding:.8rem 1rem}"
        "button{font-size:1rem;padding:.6rem 1.6rem;border:0;border-radius:4px;"
        "background:#2f6fde;color:#fff;cursor:pointer}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)
