"""The landing page and, in embedded mode, the captured-mail pages (``/admin/mailbox``).

Captured mail is external content: every value is escaped by the templates, and the HTML
part is shown only inside a sandboxed ``<iframe srcdoc>`` (no scripts, no same origin)
under a Content-Security-Policy that also blocks remote images, so viewing a message
never fires its open-tracking pixel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from admin.api.deps import Reader
from admin.ui.i18n import pick_language
from engine.email.capture import CapturedSummary, list_captured, raw_captured, read_captured
from engine.errors import NotFound
from engine.settings import Settings

_HERE = Path(__file__).parent
_templates = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

#: Our own pages: our stylesheet only, nothing else, never framed.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
#: A message page: the sandboxed srcdoc frame inherits this policy, so the mail's inline
#: styles may apply, but no script, remote image, font or connection is allowed.
MESSAGE_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

_TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "skip": "本文へ移動",
        "nav": "メインメニュー",
        "welcome": "Nurture へようこそ",
        "intro": "マーケティングオートメーション: コンタクト、イベント、ジャーニー、メール配信、トラッキング、スコアリング。",
        "mode_embedded": "組み込みモードで動作中です(SQLite とプロセス内ブローカー、送信メールはローカルで受信)。",
        "mode_production": "本番モードで動作中です(PostgreSQL と Redis)。",
        "start_here": "はじめに",
        "docs": "API ドキュメント",
        "docs_hint": "すべての API を試せます。",
        "health": "ヘルスチェック",
        "health_hint": "データベースとスキーマの状態。",
        "mailbox": "受信メール",
        "mailbox_hint": "送信されたメールはすべてここに保存され、外部には送られません",
        "count": "{count} 件",
        "date": "日時",
        "from": "差出人",
        "to": "宛先",
        "subject": "件名",
        "no_subject": "(件名なし)",
        "empty": "まだメールはありません。",
        "back": "受信メール一覧へ戻る",
        "envelope": "エンベロープ",
        "raw": "元のメッセージ",
        "html_hint": "スクリプトと外部画像は無効です。リンクは新しいタブで開きます。",
        "html_title": "メールの HTML パート",
        "text_part": "テキスト",
        "attachments": "添付ファイル",
        "unnamed": "(名前なし)",
        "all_headers": "すべてのヘッダー",
        "not_found": "メールが見つかりません",
    },
    "en": {
        "skip": "Skip to content",
        "nav": "Main menu",
        "welcome": "Welcome to Nurture",
        "intro": "Marketing automation: contacts, events, journeys, mail, tracking and scoring.",
        "mode_embedded": "Running in embedded mode (SQLite, in-process broker, outgoing mail captured locally).",
        "mode_production": "Running in production mode (PostgreSQL and Redis).",
        "start_here": "Start here",
        "docs": "API docs",
        "docs_hint": "try every API call.",
        "health": "Health",
        "health_hint": "database and schema status.",
        "mailbox": "Mailbox",
        "mailbox_hint": "every message sent is kept here and nothing leaves this machine",
        "count": "{count} captured",
        "date": "Date",
        "from": "From",
        "to": "To",
        "subject": "Subject",
        "no_subject": "(no subject)",
        "empty": "No mail yet.",
        "back": "Back to the mailbox",
        "envelope": "Envelope",
        "raw": "Original message",
        "html_hint": "Scripts and remote images are off; links open in a new tab.",
        "html_title": "The message's HTML part",
        "text_part": "Text",
        "attachments": "Attachments",
        "unnamed": "(unnamed)",
        "all_headers": "All headers",
        "not_found": "No such message",
    },
}

landing_router = APIRouter(include_in_schema=False)
pages_router = APIRouter(prefix="/admin/mailbox", include_in_schema=False)
api_router = APIRouter(prefix="/api/mailbox", tags=["mailbox"])


def mount_landing(app: FastAPI, settings: Settings) -> None:
    """Add the landing page ``/`` and the stylesheet (every mode)."""
    app.include_router(landing_router)
    app.mount("/admin/static", StaticFiles(directory=_HERE / "static"), name="admin-static")


def mount_embedded(app: FastAPI, settings: Settings) -> None:
    """Add the landing page, and in embedded mode the captured-mail pages and API."""
    mount_landing(app, settings)
    if settings.embedded:
        app.include_router(pages_router)
        app.include_router(api_router)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _page(
    request: Request,
    template: str,
    *,
    title_key: str,
    csp: str = PAGE_CSP,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    lang = pick_language(request.headers.get("accept-language"))
    text = _TEXT[lang]
    html = _templates.get_template(template).render(
        lang=lang,
        t=text,
        title=text[title_key],
        embedded=_settings(request).embedded,
        **context,
    )
    headers = {
        **_SECURITY_HEADERS,
        "Content-Security-Policy": csp,
        "Content-Language": lang,
        "Vary": "Accept-Language",
    }
    return HTMLResponse(html, status_code=status, headers=headers)


@landing_router.get("/")
def landing(request: Request) -> HTMLResponse:
    """Point to the API docs, the health check and (embedded) the mailbox."""
    return _page(request, "landing.html", title_key="welcome")


@pages_router.get("")
def mailbox(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> HTMLResponse:
    """List captured messages, newest first."""
    messages = list_captured(_settings(request).var_dir, limit)
    smtp = getattr(request.app.state, "capture_address", None)
    return _page(request, "mailbox_list.html", title_key="mailbox", messages=messages, smtp=smtp)


@pages_router.get("/{message_id}.eml")
def mailbox_raw(request: Request, message_id: str) -> Response:
    """Download the message exactly as received."""
    try:
        raw = raw_captured(_settings(request).var_dir, message_id)
    except NotFound:
        return _page(request, "not_found.html", title_key="not_found", status=404)
    return Response(
        raw,
        media_type="message/rfc822",
        headers={
            **_SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="{message_id}.eml"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@pages_router.get("/{message_id}")
def mailbox_message(request: Request, message_id: str) -> HTMLResponse:
    """Show one message: headers, the text part, and the HTML part in a sandboxed frame."""
    try:
        message = read_captured(_settings(request).var_dir, message_id)
    except NotFound:
        return _page(request, "not_found.html", title_key="not_found", status=404)
    # Links open in a new tab: a click must not navigate the frame to an outside page.
    srcdoc = '<base target="_blank">' + message.html if message.html is not None else ""
    return _page(
        request,
        "mailbox_message.html",
        title_key="mailbox",
        csp=MESSAGE_CSP,
        m=message,
        srcdoc=srcdoc,
    )


class CapturedMailOut(BaseModel):
    """A captured message in the mailbox listing."""

    id: str
    received_at: str
    envelope_from: str
    envelope_to: list[str]
    subject: str
    from_: str = Field(serialization_alias="from")
    to: str
    date: str
    size: int
    html_url: str
    raw_url: str

    @classmethod
    def of(cls, summary: CapturedSummary) -> CapturedMailOut:
        """Build from a capture summary, with links to its page and raw file."""
        return cls(
            id=summary.id,
            received_at=summary.received_at,
            envelope_from=summary.envelope_from,
            envelope_to=summary.envelope_to,
            subject=summary.subject,
            from_=summary.from_,
            to=summary.to,
            date=summary.date,
            size=summary.size,
            html_url=f"/admin/mailbox/{summary.id}",
            raw_url=f"/admin/mailbox/{summary.id}.eml",
        )


@api_router.get("", response_model=list[CapturedMailOut])
def mailbox_json(
    request: Request, _: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[CapturedMailOut]:
    """List captured messages, newest first (embedded mode only)."""
    return [CapturedMailOut.of(s) for s in list_captured(_settings(request).var_dir, limit)]
