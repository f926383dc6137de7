"""The analytics page and its CSV files show what engine.analytics computes, in Japanese."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from admin.ui.analytics import rfm_class_counts
from admin.ui.charts import chart_data
from engine.analytics import compute_rfm, conversions, revenue_deciles
from engine.clock import utcnow
from engine.store.db import Database
from engine.store.models import Contact
from tests.admin.conftest import sign_in
from tests.engine.analytics.shop import seed, seed_funnel

_CHART = re.compile(r'<canvas id="chart-(\w+)"[^>]*data-chart="([^"]*)"')


def _plant(database: Database) -> None:
    with database.unit_of_work() as session:
        seed_funnel(session, seed(session))


def charts_of(page: str) -> dict[str, dict[str, Any]]:
    """Every chart's JSON in a page, by report name."""
    return {name: json.loads(html.unescape(data)) for name, data in _CHART.findall(page)}


def test_chart_data_keeps_exact_values_and_refuses_ragged_series() -> None:
    data = json.loads(chart_data(["山田", "佐藤"], {"売上": [12000.0, 0.125]}, percent=True))
    assert data["labels"] == ["山田", "佐藤"]
    assert data["datasets"] == [{"label": "売上", "data": [12000, 0.125]}]
    assert data["percent"] is True
    assert json.loads(chart_data(["a"], {"x": [float("nan")]}))["datasets"][0]["data"] == [None]
    try:
        chart_data(["山田"], {"売上": [1.0, 2.0]})
    except ValueError as error:
        message = str(error)
    else:
        message = ""
    assert "2 values for 1 keys" in message


def test_analytics_page_equals_engine_figures(
    ui: TestClient, database: Database, make_user: Callable[..., str]
) -> None:
    _plant(database)
    sign_in(ui, make_user())
    page = ui.get("/admin/analytics")
    assert page.status_code == 200, page.text
    with database.sessions() as session:
        now = utcnow()
        rfm = rfm_class_counts(compute_rfm(session, now=now))
        deciles = revenue_deciles(session, now=now)
        by_journey = conversions(session, by="journey", now=now)
        by_source = conversions(session, by="source", now=now)
        by_stage = conversions(session, by="stage", now=now)
    charts = charts_of(page.text)
    assert set(charts) == {"rfm", "deciles", "journey", "source", "stage"}
    assert charts["rfm"]["datasets"][0]["data"] == rfm["customers"].tolist()
    assert sum(charts["rfm"]["datasets"][0]["data"]) == 5  # 伊藤 never bought
    assert "優良顧客" in charts["rfm"]["labels"] and "離反" in charts["rfm"]["labels"]
    assert charts["deciles"]["datasets"][0]["data"] == deciles["revenue_share"].tolist()
    assert charts["journey"]["datasets"][0]["data"] == by_journey["goal_rate"].tolist() == [0.5]
    assert charts["journey"]["datasets"][1]["data"] == by_journey["completion_rate"].tolist()
    assert charts["source"]["labels"] == by_source["source"].tolist()
    assert "展示会" in charts["source"]["labels"] and "メルマガ" in charts["source"]["labels"]
    assert charts["source"]["datasets"][0]["data"] == by_source["conversion_rate"].tolist()
    assert charts["stage"]["datasets"][0]["data"] == by_stage["conversion_rate"].tolist()
    assert charts["journey"]["datasets"][0]["label"] == "ゴール到達率"
    # The tables beside the charts hold the same counts.
    assert "RFM クラス別の顧客数" in page.text and "ステージ別のコンバージョン" in page.text
    journey_row = re.search(r'<table id="table-journey">.*?</table>', page.text, re.S)
    assert journey_row is not None
    cells = re.findall(r'data-column="(\w+)">([^<]*)<', journey_row.group(0))
    assert cells[:3] == [("entered", "4"), ("goal_reached", "2"), ("completed", "2")]
    assert '<script src="/admin/static/charts.js" defer></script>' in page.text
    assert "<script>" not in page.text


def test_analytics_csv_is_every_row(
    ui: TestClient, database: Database, make_user: Callable[..., str]
) -> None:
    _plant(database)
    sign_in(ui, make_user())
    response = ui.get("/admin/analytics/rfm.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert len(rows) == 5 and {"recency_days", "class"} <= set(rows[0])
    sources = ui.get("/admin/analytics/source.csv").text
    assert "展示会" in sources
    assert ui.get("/admin/analytics/nope.csv").status_code == 404


def test_analytics_refuses_sales_and_strangers(
    ui: TestClient, database: Database, make_user: Callable[..., str]
) -> None:
    assert ui.get("/admin/analytics").status_code in (302, 303)
    sign_in(ui, make_user("rep@example.jp", "sales", family_name="鈴木", given_name="一郎"))
    assert ui.get("/admin/analytics").status_code == 403
    assert ui.get("/admin/analytics/rfm.csv").status_code == 403


def test_analytics_page_without_data_says_so(ui: TestClient, make_user: Callable[..., str]) -> None:
    sign_in(ui, make_user(locale="en"))
    page = ui.get("/admin/analytics")
    assert page.status_code == 200
    assert "Customers per RFM class" in page.text
    # The RFM classes and the funnel stages are listed with zeros; the rest have no rows.
    assert page.text.count("No data yet.") == 3


def test_labels_from_contact_data_are_escaped(
    ui: TestClient, database: Database, make_user: Callable[..., str]
) -> None:
    hostile = '"><img src=x onerror=alert(1)>展示会'
    with database.unit_of_work() as session:
        session.add(
            Contact(
                email="xss@example.jp",
                last_name="渡辺",
                attributes={"source": hostile},
                lifecycle_stage="lead",
                score=0,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    sign_in(ui, make_user())
    page = ui.get("/admin/analytics").text
    assert "<img src=x" not in page
    assert charts_of(page)["source"]["labels"] == [hostile]
