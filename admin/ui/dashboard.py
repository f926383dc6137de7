"""The delivery dashboard ``/admin/`` and its tables as CSV files."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from admin.api.deps import get_database
from admin.ui.auth import CurrentUser, Marketing
from admin.ui.charts import bar_chart, chart_data
from admin.ui.i18n import words
from admin.ui.pages import SECURITY_HEADERS, render
from engine.clock import utcnow
from engine.errors import NotFound
from engine.stats.metrics import METRICS, Window
from engine.stats.queries import Row
from engine.stats.report import BREAKDOWNS, DeliveryReport, bring_up_to_date, delivery_report
from engine.store.db import Database

router = APIRouter(prefix="/admin", include_in_schema=False)

Period = Literal["24h", "7d", "30d"]
_SPAN = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
#: Columns of the dashboard's tables (the CSV files have every metric).
COLUMNS = (
    "sent",
    "delivered",
    "deferred",
    "bounced_hard",
    "bounced_soft",
    "complained",
    "unsubscribed",
    "unique_opens_human",
    "unique_opens_machine",
    "unique_clicks_human",
    "click_to_open",
    "bounce_rate",
)
RATES = frozenset({"bounce_rate", "complaint_rate", "click_to_open"})
#: Series of the dashboard's chart, one bar per metric and time bucket.
CHARTED = (
    "sent",
    "delivered",
    "bounced_hard",
    "bounced_soft",
    "opens_human",
    "opens_machine",
    "clicks_human",
    "clicks_machine",
)
TABLES = ("over_time", *BREAKDOWNS)


def _report(database: Database, period: Period, user: CurrentUser) -> DeliveryReport:
    now = utcnow()
    with database.unit_of_work() as session:
        bring_up_to_date(session, now=now)
    with database.sessions() as session:
        return delivery_report(
            session,
            Window(now - _SPAN[period], now),
            step="hour" if period == "24h" else "day",
            tz=user.timezone,
        )


@router.get("/")
def dashboard(
    request: Request,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    period: Annotated[Period, Query(alias="range")] = "7d",
) -> HTMLResponse:
    """Delivery over the chosen period: totals, alarms, a chart and one table per breakdown."""
    report = _report(database, period, user)
    t = words(user.language)
    keys = [row.key for row in report.series]
    series = {t[name]: [float(row.figures[name]) for row in report.series] for name in CHARTED}
    return render(
        request,
        "admin_dashboard.html",
        user=user,
        title_key="dashboard",
        report=report,
        period=period,
        periods=tuple(_SPAN),
        columns=COLUMNS,
        rates=RATES,
        tables=TABLES,
        chart=bar_chart(keys, series),
        chart_json=chart_data(keys, series),
        charted=CHARTED,
    )


@router.get("/dashboard/{table}.csv")
def dashboard_csv(
    table: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    period: Annotated[Period, Query(alias="range")] = "7d",
) -> Response:
    """One of the dashboard's tables, every metric, as CSV (UTF-8 with BOM for Excel)."""
    if table not in TABLES:
        raise NotFound(f"no dashboard table {table!r}; choose one of {', '.join(TABLES)}")
    report = _report(database, period, user)
    tables: dict[str, list[Row]] = {"over_time": report.series}
    tables.update(report.tables.items())
    rows = tables[table]
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="delivery-{table}-{period}.csv"',
    }
    return Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)


def to_csv(rows: list[Row]) -> str:
    """Rows as CSV with a header; cells that a spreadsheet would run as formulas are quoted."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["key", *METRICS])
    for row in rows:
        writer.writerow([_cell(row.key), *(row.figures[name] for name in METRICS)])
    return out.getvalue()


def _cell(value: str) -> str:
    # A leading = + - @ (or tab/CR) makes Excel evaluate the cell: keep it text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
