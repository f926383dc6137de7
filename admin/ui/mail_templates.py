"""Template pages: the list, a preview rendered for a chosen contact, and a test send.

The preview is the API's (:mod:`admin.api.templates`): the template rendered with a real
contact's data, untracked. Its HTML is shown in a frame served from ``/frame`` under a
policy of its own (``sandbox``: no script, no same-origin access; inline styles and
images allowed), so a template can never run code in the admin's pages.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from admin.api.deps import get_database
from admin.api.templates import SendTestOut, build_preview, mail_test, template_rows
from admin.ui.auth import CurrentUser, Marketing, check_csrf
from admin.ui.i18n import add_words
from admin.ui.journeys import not_found
from admin.ui.pages import SECURITY_HEADERS, render
from engine.errors import ConfigurationError, InvalidInput, NotFound
from engine.settings import Settings
from engine.store.db import Database

router = APIRouter(prefix="/admin/templates", include_in_schema=False)

#: The framed HTML part: no script, a unique origin, inline styles and images only.
FRAME_CSP = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
    "style-src 'unsafe-inline'; img-src https: data:; font-src https: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)

add_words(
    {
        "ja": {
            "templates": "テンプレート",
            "no_templates": "テンプレートがありません(NURTURE_TEMPLATES_DIR を確認してください)。",
            "tp_name": "テンプレート",
            "tp_subject": "件名",
            "tp_from": "差出人",
            "tp_topic": "トピック",
            "tp_locale": "言語",
            "tp_status": "状態",
            "tp_ok": "OK",
            "tp_contact": "プレビューに使うコンタクト(メールアドレスまたは #ID)",
            "tp_show": "プレビュー",
            "tp_choose": "コンタクトを選ぶと、そのデータで差し込んだメールを表示します。",
            "tp_to": "宛先",
            "tp_preheader": "プリヘッダー",
            "tp_reply_to": "返信先",
            "tp_html": "HTML",
            "tp_html_title": "HTML パートのプレビュー",
            "tp_text": "テキストパート",
            "tp_untracked": "プレビューとテスト送信ではリンクは計測されず、配信停止リンクも機能しません。",
            "tp_test_send": "テスト送信",
            "tp_test_to": "テストの送信先",
            "tp_send": "送信する",
            "tp_sent": "テストメールを送信しました:",
            "tp_not_sent": "送信できませんでした:",
            "tp_error": "エラー",
        },
        "en": {
            "templates": "Templates",
            "no_templates": "No templates (check NURTURE_TEMPLATES_DIR).",
            "tp_name": "Template",
            "tp_subject": "Subject",
            "tp_from": "From",
            "tp_topic": "Topic",
            "tp_locale": "Language",
            "tp_status": "Status",
            "tp_ok": "OK",
            "tp_contact": "Contact to preview with (email or #ID)",
            "tp_show": "Preview",
            "tp_choose": "Choose a contact to see the mail rendered with their data.",
            "tp_to": "To",
            "tp_preheader": "Preheader",
            "tp_reply_to": "Reply-To",
            "tp_html": "HTML",
            "tp_html_title": "Preview of the HTML part",
            "tp_text": "Plain-text part",
            "tp_untracked": "Previews and test sends are not tracked, and their unsubscribe link does nothing.",
            "tp_test_send": "Test send",
            "tp_test_to": "Send the test to",
            "tp_send": "Send",
            "tp_sent": "The test was sent:",
            "tp_not_sent": "Not sent:",
            "tp_error": "Error",
        },
    }
)


@router.get("")
def templates(request: Request, user: Marketing) -> HTMLResponse:
    """Every template with its front matter, or the error that stops it compiling."""
    return render(
        request,
        "templates_list.html",
        user=user,
        title_key="templates",
        rows=template_rows(_settings(request)),
    )


@router.get("/{name}")
def template(
    request: Request,
    name: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    contact: str = "",
) -> HTMLResponse:
    """One template: its front matter, and (with ``?contact=``) the mail rendered for them."""
    return _template_page(request, name, user, database, contact)


def _template_page(
    request: Request,
    name: str,
    user: CurrentUser,
    database: Database,
    contact: str,
    *,
    sent: SendTestOut | None = None,
    send_error: str | None = None,
    to: str = "",
) -> HTMLResponse:
    rows = {row["name"]: row for row in template_rows(_settings(request))}
    if name not in rows:
        return not_found(request, user)
    preview: dict[str, Any] | None = None
    problem: str | None = None
    if contact.strip():
        try:
            with database.sessions() as session:
                shown = build_preview(_settings(request), session, name, contact, None)
            preview = shown.to_dict()
        except (InvalidInput, NotFound, ConfigurationError) as failure:
            problem = failure.message
    return render(
        request,
        "templates_detail.html",
        user=user,
        title_key="templates",
        row=rows[name],
        contact=contact,
        preview=preview,
        problem=problem,
        frame_url=f"/admin/templates/{quote(name)}/frame?{urlencode({'contact': contact})}",
        sent=sent,
        send_error=send_error,
        to=to or user.email,
    )


@router.get("/{name}/frame")
def frame(
    request: Request,
    name: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    contact: str = "",
) -> Response:
    """The rendered HTML part alone, for the preview's sandboxed frame."""
    try:
        with database.sessions() as session:
            shown = build_preview(_settings(request), session, name, contact, None)
    except (InvalidInput, NotFound, ConfigurationError) as failure:
        return Response(failure.message, status_code=404, media_type="text/plain; charset=utf-8")
    headers = {
        **SECURITY_HEADERS,
        "Content-Security-Policy": FRAME_CSP,
        "X-Frame-Options": "SAMEORIGIN",
    }
    # Links open in a new tab: a click must not navigate the frame away.
    html = '<base target="_blank">' + shown.rendered.html
    return HTMLResponse(html, headers=headers)


@router.post("/{name}/test-send")
def send_test_mail(
    request: Request,
    name: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    contact: Annotated[str, Form(max_length=320)] = "",
    to: Annotated[str, Form(max_length=320)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Mail the preview to ``to`` (marked [TEST]) and show the page with what the server said."""
    check_csrf(user, csrf)
    result: SendTestOut | None = None
    error: str | None = None
    try:
        with database.sessions() as session:
            shown = build_preview(_settings(request), session, name, contact, None)
        result = mail_test(request, shown, to)
    except (InvalidInput, NotFound, ConfigurationError) as failure:
        error = failure.message
    if result is not None and not result.sent:
        error = " ".join(p for p in (result.smtp_code, result.reply) if p) or result.verdict
        result = None
    return _template_page(
        request, name, user, database, contact, sent=result, send_error=error, to=to
    )


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
