"""Chromium walks the journey canvas, a contact's timeline and the sales queue as people do."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from playwright.sync_api import Browser, Page

from admin.app import create_app
from admin.mailbox import mount_landing
from engine.settings import Settings
from engine.store.db import Database
from tests.admin.conftest import PASSWORD
from tests.admin.pages_seed import fast_passwords, seed
from tests.browser import browser, screenshot
from tests.servers import free_port, serve_app

__all__ = ["browser", "fast_passwords"]  # fixtures used here


def sign_in(page: Page, base: str, email: str, next_path: str = "/admin/contacts") -> None:
    """Sign in through the form, as a person does, landing on ``next_path``."""
    page.goto(f"{base}/admin/login?next={quote(next_path, safe='')}")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(lambda url: "/admin/login" not in url)


def test_canvas_timeline_and_accepting_a_lead(
    browser: Browser, settings: Settings, database: Database, make_user: Callable[..., str]
) -> None:
    marketer = make_user()
    rep = make_user("rep@example.jp", "sales", family_name="鈴木", given_name="一郎")
    seeded = seed(database, rep=rep, other_rep=make_user("rep2@example.jp", "sales"))
    app = create_app(settings, database)
    mount_landing(app, settings)  # the stylesheet
    with serve_app(app, free_port()) as base:
        context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
        page = context.new_page()
        sign_in(page, base, marketer)
        page.get_by_role("link", name="ジャーニー").click()
        page.get_by_role("link", name="seminar-ja").click()
        page.get_by_role("heading", name="セミナー後フォロー").wait_for()
        assert page.locator("#step-wait_1d .entered").text_content() == "到達 2"
        assert page.locator("#step-wait_1d .waiting").text_content() == "待機中 1"
        assert page.locator("#canvas .step").count() == 4
        screenshot(page, "admin-journey-canvas")

        page.get_by_role("link", name="コンタクト").first.click()
        page.get_by_label("メールアドレスまたは名前").fill("山田")
        page.get_by_role("button", name="検索").click()
        page.get_by_role("link", name="taro@example.jp").click()
        page.get_by_role("heading", name="山田 太郎").wait_for()
        assert page.locator("#timeline .entry").count() == 6
        assert "料金ページを閲覧" in (page.locator("#timeline").text_content() or "")
        journey = page.locator("#enrollments tbody tr")
        assert journey.count() == 1
        assert "セミナー後フォロー" in (journey.text_content() or "")
        assert "待機中" in (journey.text_content() or "")
        screenshot(page, "admin-contact-timeline")
        context.close()

        context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
        page = context.new_page()
        sign_in(page, base, rep)
        page.goto(f"{base}/admin/sales")
        assert page.locator("#queue tbody tr").count() == 1
        page.get_by_role("link", name="山田 太郎").click()
        page.get_by_role("heading", name="山田 太郎").wait_for()
        screenshot(page, "admin-sales-lead")
        page.get_by_role("button", name="受け入れる").click()
        page.locator("#handoff-status").filter(has_text="受け入れ済み").wait_for()
        assert page.locator("#stage").text_content() == "sql"
        response = page.goto(f"{base}/admin/sales/{seeded.others}")
        assert response is not None and response.status == 404
        assert page.locator("#lead-name").count() == 0
        screenshot(page, "admin-sales-other-rep-404")
        context.close()
