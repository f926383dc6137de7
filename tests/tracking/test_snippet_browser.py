"""A real Chromium browses a web site that embeds the snippet, then fills in its form."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Page

from admin.app import create_app
from cli.sites import snippet_html
from engine.clock import utcnow
from engine.settings import Settings
from engine.store.db import Database
from engine.tracking.sites import create_site
from tests.browser import browser, page, screenshot
from tests.servers import free_port, serve_app, serve_folder
from workers.tracking import TrackingConsumer

__all__ = ["browser", "page"]  # fixtures used here

PAGE = """<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>{title}</title>
{snippet}</head><body><h1>{title}</h1>{body}</body></html>"""
FORM = """<form data-nurture-form="資料請求" action="thanks.html" method="get">
<label>氏名 <input name="氏名" value=""></label>
<label>メール <input type="email" name="email"></label>
<label>パスワード <input type="password" name="password" value="secret"></label>
<button type="submit">送信</button></form>"""


def write_site(folder: Path, snippet: str) -> None:
    pages = {
        "index.html": (
            "ようこそ",
            '<a id="next" href="pricing.html?utm_source=newsletter">料金</a>',
        ),
        "pricing.html": ("料金プラン", '<a id="contact" href="contact.html">資料請求</a>'),
        "contact.html": ("資料請求", FORM),
        "thanks.html": ("ありがとうございました", "<p>送信しました。</p>"),
    }
    for name, (title, body) in pages.items():
        (folder / name).write_text(PAGE.format(title=title, snippet=snippet, body=body), "utf-8")


def test_two_pages_and_a_form_land_on_the_contacts_timeline(
    page: Page, settings: Settings, database: Database, tmp_path: Path
):
    port = free_port()
    app_settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    app = create_app(app_settings, database)
    consumer = TrackingConsumer(database, app.state.tracking_buffer)
    consumer.start()
    folder = tmp_path / "site"
    folder.mkdir()
    try:
        with serve_folder(folder) as site, serve_app(app, port) as nurture:
            with database.unit_of_work() as session:
                key = create_site(
                    session, name="テストサイト", origins=[site], respect_dnt=False, now=utcnow()
                ).site_key
            write_site(folder, snippet_html(nurture, key))
            page.goto(f"{site}/index.html")
            page.click("#next")
            page.wait_for_url("**/pricing.html*")
            page.click("#contact")
            page.fill("input[name='氏名']", "佐藤 花子")
            page.fill("input[type='email']", "hanako.sato@example.jp")
            page.click("button[type='submit']")
            page.wait_for_url("**/thanks.html*")
            screenshot(page, "snippet-thanks")
            items = timeline(app, "hanako.sato@example.jp")
    finally:
        consumer.stop()
    events = [i for i in items if i["kind"] == "event"]
    types = [e["data"]["type"] for e in reversed(events)]
    assert types[:3] == ["page_view", "page_view", "page_view"]
    assert "form_submitted" in types and types[-1] == "page_view"  # the thanks page, known now
    paths = [
        e["data"]["properties"].get("path")
        for e in reversed(events)
        if e["data"]["type"] == "page_view"
    ]
    assert paths[:3] == ["/index.html", "/pricing.html", "/contact.html"]
    form = next(e for e in events if e["data"]["type"] == "form_submitted")
    assert form["data"]["properties"]["fields"]["氏名"] == "佐藤 花子"
    assert "password" not in form["data"]["properties"]["fields"]


def timeline(app, email: str, wait: float = 10.0, views: int = 4) -> list[dict]:
    """Poll the contact's timeline through the API until the thanks page view is on it."""
    from fastapi.testclient import TestClient

    from engine.auth.apikeys import create_api_key

    with app.state.database.unit_of_work() as session:
        key = create_api_key(session, name="browser test", scopes=["admin"], now=utcnow())
    deadline = time.monotonic() + wait
    with TestClient(app) as client:
        while True:
            answer = client.get(
                f"/api/contacts/{email}/timeline", headers={"Authorization": f"Bearer {key}"}
            )
            items = answer.json().get("items", []) if answer.status_code == 200 else []
            seen = [i for i in items if i["kind"] == "event" and i["data"]["type"] == "page_view"]
            if len(seen) >= views or time.monotonic() > deadline:
                return items
            time.sleep(0.2)


def test_arriving_from_a_tracked_mail_click_identifies_the_visitor_and_cleans_the_url(
    page: Page, settings: Settings, database: Database, tmp_path: Path
):
    from engine.store.models import Contact, Message
    from engine.tracking.tokens import visit_token

    port = free_port()
    app_settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    app = create_app(app_settings, database)
    with database.unit_of_work() as session:
        contact = Contact(
            email="jiro.suzuki@example.jp",
            first_name="次郎",
            last_name="鈴木",
            attributes={},
            lifecycle_stage="lead",
            score=0,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        session.add(contact)
        session.flush()
        session.add(
            Message(
                uid="MailUidForVisit01",
                message_id="<visit@test>",
                idempotency_key="visit",
                contact_id=contact.id,
                template="t",
                status="sent",
                attempts=1,
                queued_at=utcnow(),
                sent_at=utcnow(),
            )
        )
    token = visit_token("MailUidForVisit01", app_settings.signing_keys())
    consumer = TrackingConsumer(database, app.state.tracking_buffer)
    consumer.start()
    folder = tmp_path / "site"
    folder.mkdir()
    try:
        with serve_folder(folder) as site, serve_app(app, port) as nurture:
            with database.unit_of_work() as session:
                key = create_site(
                    session, name="テストサイト", origins=[site], respect_dnt=False, now=utcnow()
                ).site_key
            write_site(folder, snippet_html(nurture, key))
            page.goto(f"{site}/pricing.html?utm_source=mail&nurture_c={token}")
            assert "nurture_c" not in page.url and "utm_source=mail" in page.url
            items = timeline(app, "jiro.suzuki@example.jp", views=1)
    finally:
        consumer.stop()
    events = [i for i in items if i["kind"] == "event"]
    assert {e["data"]["type"] for e in events} >= {"identified", "page_view"}
    view = next(e for e in events if e["data"]["type"] == "page_view")
    assert "nurture_c" not in view["data"]["properties"]["url"]
    assert view["data"]["properties"]["utm_source"] == "mail"
