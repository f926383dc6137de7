"""Chromium signs in, reads the dashboard, switches language; planted payloads never run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from playwright.sync_api import Browser, ConsoleMessage, Dialog

from admin.app import create_app
from admin.mailbox import mount_landing
from engine.clock import utcnow
from engine.settings import Settings
from engine.store.db import Database
from tests.admin.conftest import PASSWORD
from tests.browser import browser, screenshot
from tests.engine.stats.factory import message, plant
from tests.servers import free_port, serve_app

__all__ = ["browser"]  # fixtures used here

PAYLOADS = [
    "<script>window.__xss=1;alert(1)</script>",
    '"><img src=x onerror="window.__xss=2;alert(2)">',
    "javascript:alert(3)",
]


def _plant_payloads(database: Database) -> None:
    now = utcnow() - timedelta(minutes=10)
    rows = [
        message(at=now, to="ok@example.jp", template="ようこそ"),
        message(at=now, to="ok2@example.jp", template="ようこそ"),
    ]
    for n, payload in enumerate(PAYLOADS):
        rows.append(
            message(
                at=now,
                to=f"x{n}@{payload}",
                template=payload,
                journey=payload[:64],
                broadcast=payload[:64],
                variant=payload[:32],
            )
        )
    events = [(0, "open", "human", now + timedelta(minutes=1))]
    with database.unit_of_work() as session:
        plant(session, rows, events)


def test_sign_in_read_switch_language_and_nothing_planted_runs(
    browser: Browser,
    settings: Settings,
    database: Database,
    make_user: Callable[..., str],
) -> None:
    email = make_user(family_name=PAYLOADS[1][:100], given_name="花子")
    _plant_payloads(database)
    app = create_app(settings, database)
    mount_landing(app, settings)
    dialogs: list[str] = []
    errors: list[str] = []
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    page = context.new_page()

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(entry: ConsoleMessage) -> None:
        # The browser asks for /favicon.ico by itself; anything else failing is ours.
        if entry.type == "error" and not entry.location.get("url", "").endswith("/favicon.ico"):
            errors.append(f"{entry.text} at {entry.location}")

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    with serve_app(app, free_port()) as base:
        page.goto(f"{base}/admin/")
        assert "/admin/login" in page.url
        page.get_by_label("メールアドレス").fill(email)
        page.get_by_label("パスワード").fill(PASSWORD)
        page.get_by_role("button", name="ログイン").click()
        page.wait_for_url(f"{base}/admin/")
        assert page.locator("#total-sent").inner_text() == "5"
        assert page.locator("#total-unique_opens_human").inner_text() == "1"
        assert page.get_by_role("heading", name="配信ダッシュボード").is_visible()
        screenshot(page, "admin-dashboard-ja")
        page.get_by_label("表示言語").select_option("en")
        page.get_by_role("button", name="切り替え").click()
        page.get_by_role("heading", name="Delivery dashboard").wait_for()
        assert page.locator("html").get_attribute("lang") == "en"
        page.goto(f"{base}/admin/health")
        page.get_by_role("heading", name="Health", exact=True).wait_for()
        screenshot(page, "admin-health-en")
        page.goto(f"{base}/admin/?range=24h")
        # Payloads show as text, never as markup or links.
        assert page.get_by_text(PAYLOADS[0]).count() >= 1
        assert page.locator("img[src=x]").count() == 0
        assert page.locator("a[href^='javascript:']").count() == 0
        assert page.evaluate("window.__xss") is None
        screenshot(page, "admin-dashboard-payloads")
    context.close()
    assert dialogs == []
    assert errors == []
