"""Payloads planted wherever outsiders write text show as text on every page, and never run.

Contact names and attributes come from forms and CSV files, event properties and tracked
URLs from visitors' browsers, journey names from YAML, handoff reasons from people: each
page that shows them is opened in Chromium, which must raise no dialog and log no error.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from playwright.sync_api import Browser, ConsoleMessage, Dialog

from admin.app import create_app
from admin.mailbox import mount_landing
from engine.clock import utcnow
from engine.segments.definitions import parse_segment, store_segment
from engine.settings import Settings
from engine.store.db import Database
from tests.admin.pages_seed import fast_passwords, seed
from tests.admin.test_pages_browser import sign_in
from tests.browser import browser, screenshot
from tests.servers import free_port, serve_app

__all__ = ["browser", "fast_passwords"]  # fixtures used here

MARK = '<script>alert(1)</script>"><img src=x onerror=alert(2)>javascript:alert(3)'


def test_planted_payloads_never_run_on_any_page(
    browser: Browser, settings: Settings, database: Database, make_user: Callable[..., str]
) -> None:
    marketer = make_user(family_name=MARK[:100])
    rep = make_user("rep@example.jp", "sales")
    seeded = seed(database, rep=rep, other_rep=make_user("rep2@example.jp", "sales"), mark=MARK)
    with database.unit_of_work() as session:
        segment = f"id: planted\nname: {json.dumps(MARK)}\ncondition: {{score: {{gte: 0}}}}\n"
        found, problems = parse_segment(segment, "planted.yaml")
        assert found is not None, problems
        store_segment(session, found, now=utcnow())
    # Production mode previews mail only with a postal address, as it sends it.
    settings = settings.model_copy(update={"postal_address": "東京都千代田区 " + MARK})
    app = create_app(settings, database)
    mount_landing(app, settings)
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(entry: ConsoleMessage) -> None:
        # The browser asks for /favicon.ico by itself, and <img src=x> would 404 were it
        # ever markup; anything else failing is ours.
        if entry.type == "error" and not entry.location.get("url", "").endswith("/favicon.ico"):
            errors.append(f"{entry.text} at {entry.location}")

    with serve_app(app, free_port()) as base:
        context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
        page = context.new_page()
        page.on("dialog", on_dialog)
        page.on("console", on_console)
        sign_in(page, base, rep)
        page.goto(f"{base}/admin/sales/{seeded.mine}")
        page.get_by_label("見送る理由").fill(MARK)
        page.get_by_role("button", name="見送る").click()
        page.locator("#rejection").wait_for()
        assert page.locator("#rejection").text_content() == MARK
        context.close()

        context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
        page = context.new_page()
        page.on("dialog", on_dialog)
        page.on("console", on_console)
        sign_in(page, base, marketer)
        for n, path in enumerate(
            (
                "/admin/journeys",
                f"/admin/journeys/{seeded.journey_id}",
                f"/admin/contacts?q={seeded.taro}",
                f"/admin/contacts/{seeded.taro}",
                "/admin/sales?tab=team&status=all",
                f"/admin/sales/{seeded.mine}",
                f"/admin/sales/{seeded.others}",
                "/admin/segments",
                "/admin/segments/planted",
                f"/admin/templates/seminar-thanks-ja?contact={seeded.taro}",
            )
        ):
            page.goto(base + path)
            page.locator("main").wait_for()
            page.locator("details").evaluate_all("(all) => all.forEach((d) => d.open = true)")
            text = page.locator("main").text_content() or ""
            assert "<script>alert(1)</script>" in text, path  # shown, as text
            assert page.locator("main img").count() == 0, path
            assert page.locator("main script").count() == 0, path
            assert page.locator("a[href^='javascript:']").count() == 0, path
            screenshot(page, f"admin-xss-{n}")
            if path.startswith("/admin/templates/"):
                framed = page.frame_locator("#preview-frame").locator("body")
                assert "<script>alert(1)</script>" in (framed.text_content() or "")
                assert framed.locator("script").count() == 0
                assert framed.locator("img[src='x']").count() == 0
        context.close()
    assert dialogs == []
    assert errors == []
