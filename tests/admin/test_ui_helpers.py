"""Pure helpers of the admin UI: throttling, redirects, CSV cells, charts, formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from admin.ui.charts import HEIGHT, bar_chart
from admin.ui.dashboard import to_csv
from admin.ui.i18n import Formats, pick_language, zone_for
from admin.ui.pages import local_path
from admin.ui.throttle import LoginThrottle
from engine.stats.metrics import derive
from engine.stats.queries import Row

T = datetime(2026, 4, 1, 14, 30, tzinfo=UTC)


def test_throttle_blocks_after_the_limit_and_forgets_after_the_window() -> None:
    throttle = LoginThrottle(per_account=2, per_client=3, window=timedelta(minutes=15))
    throttle.failed("a@example.jp", "10.0.0.1", now=T)
    assert not throttle.blocked("A@example.jp", "10.0.0.1", now=T)
    throttle.failed("a@example.jp", "10.0.0.1", now=T)
    assert throttle.blocked("a@example.jp", "10.0.0.1", now=T)
    assert not throttle.blocked("a@example.jp", "10.0.0.2", now=T)  # another client
    throttle.failed("b@example.jp", "10.0.0.1", now=T)
    assert throttle.blocked("c@example.jp", "10.0.0.1", now=T)  # the client's own limit
    assert not throttle.blocked("a@example.jp", "10.0.0.1", now=T + timedelta(minutes=15))


def test_only_local_admin_paths_are_followed() -> None:
    assert local_path("/admin/health?x=1") == "/admin/health?x=1"
    for outside in (
        "https://evil.example/",
        "//evil.example/admin",
        "/admin\\..\\x",
        None,
        "/docs",
    ):
        assert local_path(outside) == "/admin/"


def test_csv_keeps_formulas_as_text_and_japanese_intact() -> None:
    text = to_csv([Row("=1+1", derive({"sent": 2})), Row("ようこそ", derive({"sent": 1}))])
    assert text.startswith("\ufeffkey,sent,")
    assert "'=1+1,2," in text and "ようこそ,1," in text


def test_chart_scales_bars_to_the_tallest() -> None:
    chart = bar_chart(["1日", "2日"], {"sent": [10.0, 5.0], "opens": [2.0, 0.0]})
    heights = [bar.height for bar in chart.bars]
    assert heights == [HEIGHT, HEIGHT * 0.2, HEIGHT / 2, 0.0]
    assert all(bar.y + bar.height == HEIGHT for bar in chart.bars)
    assert bar_chart([], {"sent": []}).bars == []


def test_formats_follow_language_and_zone() -> None:
    ja = Formats("ja", zone_for(None, "ja"))
    en = Formats("en", zone_for("Europe/London", "en"))
    assert ja.number(1234567) == "1,234,567" and ja.percent(0.125) == "12.5%"
    assert ja.datetime(T) == "2026/04/01 23:30"
    assert en.datetime(T).startswith("4/1/26")
    assert ja.name("太郎", "山田") == "山田 太郎" and en.name("Taro", "Yamada") == "Taro Yamada"
    assert zone_for("Not/AZone", "ja") == ZoneInfo("Asia/Tokyo")
    assert pick_language("en-US,en;q=0.9") == "en" and pick_language(None) == "ja"
