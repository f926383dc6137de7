"""Chromium draws the dashboard and analytics charts with Chart.js under the strict CSP.

The figures are read back from the live Chart.js instances and checked against SQL counts
over the seeded rows, so a chart that drifts from the database fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Page
from sqlalchemy import func, select

from admin.app import create_app
from admin.mailbox import mount_landing
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Enrollment, Message, StepRun, TrackingEvent
from tests.admin.pages_seed import fast_passwords
from tests.admin.test_dashboard import _plant as plant_delivery
from tests.admin.test_pages_browser import sign_in
from tests.browser import browser, screenshot
from tests.engine.analytics.shop import seed, seed_funnel
from tests.servers import free_port, serve_app

__all__ = ["browser", "fast_passwords"]  # fixtures used here

#: Collects CSP violations before any page script runs (init scripts are exempt from CSP).
_LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@contextmanager
def _watched(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A Japanese page whose console errors and page errors are collected."""
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    context.add_init_script(_LISTEN)
    page = context.new_page()
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        # Chromium asks for /favicon.ico on its own; the admin pages name no icon.
        url = message.location["url"]
        if message.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"{message.text} {url}")

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page, errors
    finally:
        context.close()


def _chart(page: Page, canvas: str) -> dict[str, Any]:
    """The labels and datasets of the live Chart.js chart on ``canvas``."""
    page.locator(f"{canvas}[data-drawn='true']").wait_for()
    data: dict[str, Any] = page.evaluate(
        """(sel) => {
            const d = Chart.getChart(document.querySelector(sel)).data;
            return {labels: d.labels,
                    datasets: d.datasets.map((s) => ({label: s.label, data: s.data}))};
        }""",
        canvas,
    )
    return data


def _series(chart: dict[str, Any]) -> dict[str, list[float]]:
    return {s["label"]: s["data"] for s in chart["datasets"]}


def _count(database: Database, statement: Any) -> int:
    with database.sessions() as session:
        return int(session.scalar(statement) or 0)


def test_charts_match_sql_counts_without_csp_violations(
    browser: Browser, settings: Settings, database: Database, make_user: Callable[..., str]
) -> None:
    plant_delivery(database)
    with database.unit_of_work() as session:
        seed_funnel(session, seed(session))
    marketer = make_user()
    app = create_app(settings, database)
    mount_landing(app, settings)  # /admin/static
    tracking = select(func.count()).select_from(TrackingEvent)
    with serve_app(app, free_port()) as base, _watched(browser) as (page, errors):
        sign_in(page, base, marketer, "/admin/?range=24h")
        delivery = _series(_chart(page, "#chart-delivery"))
        assert sum(delivery["送信"]) == _count(
            database, select(func.count()).where(Message.sent_at.is_not(None))
        )
        assert sum(delivery["ハードバウンス"]) == _count(
            database, select(func.count()).where(Message.status == "bounced")
        )
        for label, kind, human in (
            ("開封(人)", "open", True),
            ("開封(機械)", "open", False),
            ("クリック(人)", "click", True),
            ("クリック(機械)", "click", False),
        ):
            kept = TrackingEvent.classification == "human"
            statement = tracking.where(TrackingEvent.kind == kind, kept if human else ~kept)
            assert sum(delivery[label]) == _count(database, statement), label
        assert sum(delivery["開封(機械)"]) == 3
        # The table beside the chart shows the same figures, bucket by bucket.
        table = page.locator("#chart-figures tbody td[data-metric='sent']").all_text_contents()
        assert [float(cell.replace(",", "")) for cell in table] == delivery["送信"]
        screenshot(page, "admin-dashboard-chart")

        page.get_by_role("link", name="分析").first.click()
        page.get_by_role("heading", name="RFM クラス別の顧客数").wait_for()
        rfm = _chart(page, "#chart-rfm")
        classes = dict(zip(rfm["labels"], rfm["datasets"][0]["data"], strict=True))
        assert sum(classes.values()) == 5  # five contacts bought; 伊藤 did not
        journey = _series(_chart(page, "#chart-journey"))
        entered = _count(database, select(func.count()).select_from(Enrollment))
        goals = _count(
            database,
            select(func.count(func.distinct(StepRun.enrollment_id))).where(
                StepRun.step.like("goal:%")
            ),
        )
        # pages_seed's seminar journey is not planted here: every enrollment is "welcome".
        assert journey["ゴール到達率"] == [goals / entered] == [0.5]
        source = _chart(page, "#chart-source")
        assert "展示会" in source["labels"]
        for name in ("deciles", "stage"):
            _chart(page, f"#chart-{name}")
        screenshot(page, "admin-analytics-charts")
        violations = page.evaluate("window.__violations")
    assert violations == []
    assert errors == []
