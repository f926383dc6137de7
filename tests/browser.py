"""A real headless Chromium for browser tests: Debian's browser driven through Playwright.

Import the fixtures into a test module's conftest (``from tests.browser import browser,
page``). Screenshots go to ``var/test-artifacts/`` so a failed run leaves evidence.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A headless Chromium for one test.

    Playwright's sync API runs an event loop on the test's thread while it is started, so
    it is stopped after each test: a later test's ``asyncio.run`` (the mailer) would fail.
    """
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no shared cookies or storage) and a page in it."""
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
