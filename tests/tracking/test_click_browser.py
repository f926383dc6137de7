"""A person opens a sent mail in Chromium and clicks its link: they land where it pointed."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import Browser
from sqlalchemy import select

from admin.app import create_app
from engine.email.compose import MailIdentity
from engine.email.send import send_messages
from engine.email.smtp import SmtpMailer
from engine.email.templates import TemplateStore
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import TrackingEvent
from tests.browser import browser, screenshot
from tests.engine.email.smtp_server import SmtpServer
from tests.engine.email.test_send import NOW, add_contact, body, queue
from tests.servers import free_port, serve_app, serve_folder
from workers.tracking import TrackingConsumer

__all__ = ["browser"]  # fixtures used here

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = """---
subject: "{{{{ contact.last_name }}}} 様、資料のご案内"
topic: seminar_followup
locale: ja
---
{{% extends "layouts/base.mjml" %}}
{{% block content %}}
<mj-section><mj-column>
  <mj-text>{{{{ contact.last_name }}}} 様</mj-text>
  <mj-button href="{target}">資料を見る</mj-button>
</mj-column></mj-section>
{{% endblock %}}
"""


#: A person's desktop Chrome: headless Chromium says "HeadlessChrome", which counts as a robot.
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def test_clicking_a_link_in_the_mail_lands_on_the_original_page_as_a_human_click(
    browser: Browser, settings: Settings, database: Database, tmp_path: Path
):
    context = browser.new_context(user_agent=DESKTOP_CHROME, locale="ja-JP")
    page = context.new_page()
    site_folder = tmp_path / "site"
    site_folder.mkdir()
    (site_folder / "landing.html").write_text(
        "<!doctype html><meta charset=utf-8><title>資料ダウンロード</title><h1>資料</h1>", "utf-8"
    )
    port = free_port()
    mail_settings = settings.model_copy(
        update={
            "public_url": f"http://127.0.0.1:{port}",
            "postal_address": "〒100-0001 東京都千代田区千代田1-1",
        }
    )
    with serve_folder(site_folder) as site, SmtpServer() as smtp:
        templates = tmp_path / "templates"
        shutil.copytree(ROOT / "templates", templates)
        target = f"{site}/landing.html?lang=ja"
        (templates / "click-test.mjml").write_text(TEMPLATE.format(target=target), "utf-8")
        contact_id = add_contact(database)
        message_id, _ = queue(database, contact_id, template="click-test", subject=None)

        def deliver():
            with database.unit_of_work() as session:
                return send_messages(
                    session,
                    [message_id],
                    now=NOW,
                    identity=MailIdentity.from_settings(mail_settings),
                    signing_keys=mail_settings.signing_keys(),
                    templates=TemplateStore(templates),
                    mailer=SmtpMailer(smtp.url, timeout=5),
                )

        # Playwright's sync API owns this thread's event loop; the mailer runs its own.
        with ThreadPoolExecutor(1) as pool:
            report = pool.submit(deliver).result()
        assert report.sent == [message_id]
        (received,) = smtp.received
        mail = tmp_path / "mail.html"
        mail.write_text(body(received.message, "html"), "utf-8")
        assert target not in mail.read_text("utf-8")  # only the tracked URL is in the mail

        app = create_app(mail_settings, database)
        consumer = TrackingConsumer(database, app.state.tracking_buffer)
        consumer.start()
        try:
            with serve_app(app, port):
                page.goto(mail.as_uri())
                # MJML buttons open in a new tab, as mail clients do.
                with page.expect_popup() as opened:
                    page.get_by_text("資料を見る").click()
                tab = opened.value
                tab.wait_for_url(f"{site}/landing.html*")
                screenshot(tab, "mail-click-landing")
                landed, title = tab.url, tab.title()
                click = wait_for_click(database)
        finally:
            consumer.stop()
            context.close()
    assert landed.startswith(target + "&utm_source=nurture&utm_medium=email")
    assert title == "資料ダウンロード"
    assert click is not None
    assert (click.kind, click.classification, click.contact_id) == ("click", "human", contact_id)
    assert click.url == landed


def wait_for_click(database: Database, wait: float = 10.0) -> TrackingEvent | None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with database.sessions() as session:
            found = session.scalars(
                select(TrackingEvent).where(TrackingEvent.kind == "click")
            ).first()
            if found is not None:
                session.expunge(found)
                return found
        time.sleep(0.1)
    return None
