"""The dashboard, its CSV files, the stats API and /metrics show what the raw rows say."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admin.app import create_app
from engine.clock import utcnow
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Message, TrackingEvent
from tests.admin.conftest import sign_in
from tests.engine.stats.factory import message, plant


def _plant(database: Database) -> None:
    now = utcnow()
    earlier = now - timedelta(hours=3)
    rows = [
        message(at=earlier, to=f"user{n}@example.jp", template="ようこそ", variant="a")
        for n in range(6)
    ]
    rows += [
        message(at=now - timedelta(minutes=2), to="b@gmail.com", template="=HYPERLINK(1)"),
        message(
            at=earlier,
            to="c@gmail.com",
            status="bounced",
            bounced_after=timedelta(hours=1),
            smtp_code="550",
        ),
    ]
    events = [
        (0, "open", "human", now - timedelta(minutes=1)),
        (0, "click", "human", now - timedelta(seconds=30)),
    ]
    events += [(n, "open", "machine", earlier + timedelta(seconds=1)) for n in range(3)]
    with database.unit_of_work() as session:
        plant(session, rows, events)


def _raw(database: Database) -> dict[str, int]:
    with database.sessions() as session:
        return {
            "sent": session.scalar(select(func.count()).where(Message.sent_at.is_not(None))) or 0,
            "opens_machine": session.scalar(
                select(func.count()).where(
                    TrackingEvent.kind == "open", TrackingEvent.classification != "human"
                )
            )
            or 0,
        }


def test_dashboard_figures_equal_sql_counts(
    ui: TestClient, database: Database, make_user: Callable[..., str]
) -> None:
    _plant(database)
    sign_in(ui, make_user(locale="en"))
    page = ui.get("/admin/?range=24h")
    assert page.status_code == 200
    raw = _raw(database)
    assert f'id="total-sent">{raw["sent"]}<' in page.text
    assert f'id="total-opens_machine">{raw["opens_machine"]}<' in page.text
    assert 'id="total-unique_clicks_human">1<' in page.text
    assert "Bounce rate is 12.5%" in page.text  # 1 of 8: over the 2 % alarm
    assert "ようこそ" in page.text


def test_csv_export_is_excel_safe(
    ui: TestClient, database: Database, make_user: Callable[..., str]
) -> None:
    _plant(database)
    sign_in(ui, make_user())
    response = ui.get("/admin/dashboard/template.csv?range=24h")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    by_key = {row["key"]: row for row in rows}
    assert by_key["ようこそ"]["sent"] == "6"
    assert "'=HYPERLINK(1)" in by_key  # a formula stays text
    assert ui.get("/admin/dashboard/nope.csv").status_code == 404


def test_stats_api_groups_and_matches_raw_rows(
    ui: TestClient, database: Database, key_for: Callable[..., dict[str, str]]
) -> None:
    _plant(database)
    marketer = key_for("marketer")
    by_domain = ui.get("/api/stats/delivery", params={"group_by": "domain"}, headers=marketer)
    assert by_domain.status_code == 200, by_domain.text
    body = by_domain.json()
    assert body["totals"]["sent"] == _raw(database)["sent"]
    assert {row["key"]: row["sent"] for row in body["rows"]} == {"example.jp": 6, "gmail.com": 2}
    assert "from" in body and body["group_by"] == "domain"
    hourly = ui.get("/api/stats/delivery", params={"group_by": "hour"}, headers=marketer).json()
    assert sum(row["sent"] for row in hourly["rows"]) == 8
    assert ui.get("/api/stats/delivery", headers=key_for("sales")).status_code == 403
    assert ui.get("/api/stats/delivery").status_code == 401
    bad = ui.get(
        "/api/stats/delivery",
        params={"from": "2026-04-02T00:00:00+09:00", "to": "2026-04-01T00:00:00+09:00"},
        headers=marketer,
    )
    assert bad.status_code == 422 and "from" in bad.text
    assert "/api/stats/delivery" in ui.get("/openapi.json").json()["paths"]


def test_health_page_and_metrics(
    ui: TestClient,
    database: Database,
    make_user: Callable[..., str],
    key_for: Callable[..., dict[str, str]],
) -> None:
    _plant(database)
    sign_in(ui, make_user(locale="en"))
    health = ui.get("/admin/health")
    assert health.status_code == 200 and "Degraded" in health.text  # no worker runs in tests
    assert 'id="send-rate">1 / 1<' in health.text
    # The test client is not on loopback: a key is needed.
    assert ui.get("/metrics").status_code == 401
    scraped = ui.get("/metrics", headers=key_for("marketer"))
    assert scraped.status_code == 200
    assert 'nurture_delivery_total{metric="sent"} 8.0' in scraped.text
    assert "nurture_workers_alive 0.0" in scraped.text
    assert "nurture_smtp_errors_60m" in scraped.text
    assert "nurture_tracking_backlog" in scraped.text
    assert 'id="tracking-backlog">' in health.text


def test_metrics_answer_loopback_without_a_key(settings: Settings, database: Database) -> None:
    _plant(database)
    app = create_app(settings, database)
    with TestClient(app, client=("127.0.0.1", 50000)) as local:
        scraped = local.get("/metrics")
    assert scraped.status_code == 200
    assert 'nurture_delivery_total{metric="sent"} 8.0' in scraped.text


def test_dashboard_chart_carries_the_table_figures(
    ui: TestClient, database: Database, make_user: Callable[..., str]
) -> None:
    _plant(database)
    sign_in(ui, make_user())
    page = ui.get("/admin/?range=24h").text
    found = re.search(r'id="chart-delivery"[^>]*data-chart="([^"]*)"', page)
    assert found is not None
    chart = json.loads(html.unescape(found.group(1)))
    series = {s["label"]: s["data"] for s in chart["datasets"]}
    raw = _raw(database)
    assert sum(series["送信"]) == raw["sent"]
    assert sum(series["開封(機械)"]) == raw["opens_machine"]
    assert sum(series["ハードバウンス"]) == 1
    cells = re.findall(r'<td class="num" data-metric="opens_machine">(\d+)</td>', page)
    assert [float(c) for c in cells[: len(chart["labels"])]] == series["開封(機械)"]
    assert '<script src="/admin/static/vendor/chart.umd.min.js" defer></script>' in page
    assert "<noscript>" in page  # the SVG for readers without JavaScript
