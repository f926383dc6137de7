"""Analytics pages: RFM classes, score deciles and conversions, charted.

Every figure comes from ``engine.analytics``, the code behind ``nurture analytics`` and
``/api/analytics``, computed on request; charts and tables show the same numbers, and each
table downloads as CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from admin.api.deps import get_database
from admin.ui.auth import Marketing
from admin.ui.charts import chart_data
from admin.ui.i18n import add_words, words
from admin.ui.pages import SECURITY_HEADERS, render
from engine.analytics import compute_rfm, conversions, revenue_deciles
from engine.analytics.conversions import CONVERSION_DIMENSIONS
from engine.analytics.export import to_csv
from engine.analytics.rfm import RFM_CLASSES
from engine.clock import utcnow
from engine.errors import NotFound
from engine.store.db import Database

router = APIRouter(prefix="/admin/analytics", include_in_schema=False)

Report = Literal["rfm", "deciles", "journey", "source", "stage"]
REPORTS: tuple[Report, ...] = ("rfm", "deciles", "journey", "source", "stage")
#: Columns that hold fractions (0–1), shown as percentages.
RATES = frozenset(
    {"revenue_share", "cumulative_share", "goal_rate", "completion_rate", "conversion_rate"}
)
#: The rate each conversion chart draws, per report.
CHARTED_RATES: dict[str, tuple[str, ...]] = {
    "journey": ("goal_rate", "completion_rate"),
    "source": ("conversion_rate",),
    "stage": ("conversion_rate",),
}

_WORDS: dict[str, dict[str, str]] = {
    "ja": {
        "rfm_classes": "RFM クラス別の顧客数",
        "deciles": "売上デシル",
        "conv_journey": "ジャーニー別のコンバージョン",
        "conv_source": "流入元別のコンバージョン",
        "conv_stage": "ステージ別のコンバージョン",
        "rfm_class": "RFM クラス",
        "customers": "顧客数",
        "decile": "デシル",
        "orders": "注文数",
        "revenue": "売上",
        "revenue_share": "売上構成比",
        "cumulative_share": "累積構成比",
        "average_order_value": "平均注文額",
        "journey": "ジャーニー",
        "entered": "開始",
        "goal_reached": "ゴール到達",
        "completed": "完了",
        "goal_rate": "ゴール到達率",
        "completion_rate": "完了率",
        "source": "流入元",
        "contacts": "コンタクト数",
        "conversion_rate": "コンバージョン率",
        "stage": "ステージ",
        "reached": "到達",
        "advanced": "次へ進んだ",
        "median_days_to_advance": "進むまでの日数（中央値）",
        "rfm_csv": "顧客ごとの RFM を CSV でダウンロード",
        "no_rows": "データはまだありません。",
        "champions": "優良顧客",
        "loyal": "ロイヤル顧客",
        "potential_loyalists": "ロイヤル候補",
        "new": "新規顧客",
        "promising": "有望顧客",
        "needs_attention": "要注意",
        "about_to_sleep": "休眠間近",
        "cannot_lose": "失いたくない顧客",
        "at_risk": "離反リスク",
        "hibernating": "休眠",
        "lost": "離反",
    },
    "en": {
        "rfm_classes": "Customers per RFM class",
        "deciles": "Revenue deciles",
        "conv_journey": "Conversions by journey",
        "conv_source": "Conversions by source",
        "conv_stage": "Conversions by stage",
        "rfm_class": "RFM class",
        "customers": "Customers",
        "decile": "Decile",
        "orders": "Orders",
        "revenue": "Revenue",
        "revenue_share": "Revenue share",
        "cumulative_share": "Cumulative share",
        "average_order_value": "Average order value",
        "journey": "Journey",
        "entered": "Entered",
        "goal_reached": "Reached goal",
        "completed": "Completed",
        "goal_rate": "Goal rate",
        "completion_rate": "Completion rate",
        "source": "Source",
        "contacts": "Contacts",
        "conversion_rate": "Conversion rate",
        "stage": "Stage",
        "reached": "Reached",
        "advanced": "Advanced",
        "median_days_to_advance": "Median days to advance",
        "rfm_csv": "Download every customer's RFM as CSV",
        "no_rows": "No data yet.",
        "champions": "Champions",
        "loyal": "Loyal",
        "potential_loyalists": "Potential loyalists",
        "new": "New",
        "promising": "Promising",
        "needs_attention": "Needs attention",
        "about_to_sleep": "About to sleep",
        "cannot_lose": "Cannot lose them",
        "at_risk": "At risk",
        "hibernating": "Hibernating",
        "lost": "Lost",
    },
}
# Prefixed: the catalogue is shared by every page, and "source" or "stage" mean other things there.
add_words({lang: {"an_" + k: v for k, v in catalog.items()} for lang, catalog in _WORDS.items()})


@dataclass(frozen=True, slots=True)
class Section:
    """One report on the page: its table, the chart's JSON, and the CSV it downloads as."""

    name: str
    heading: str
    columns: list[str]
    rows: list[list[object]]
    chart: str


def rfm_class_counts(rfm: pd.DataFrame) -> pd.DataFrame:
    """Count customers per RFM class, every class listed (best first), zeros included."""
    counts = rfm["class"].value_counts() if not rfm.empty else pd.Series(dtype="int64")
    return pd.DataFrame(
        {
            "class": list(RFM_CLASSES),
            "customers": [int(counts.get(name, 0)) for name in RFM_CLASSES],
        }
    )


def _frames(database: Database) -> dict[str, pd.DataFrame]:
    now = utcnow()
    with database.sessions() as session:
        frames = {
            "rfm": compute_rfm(session, now=now),
            "deciles": revenue_deciles(session, now=now),
        }
        for by in CONVERSION_DIMENSIONS:
            frames[by] = conversions(session, by=by, now=now)
    return frames


def _section(name: str, frame: pd.DataFrame, t: dict[str, str]) -> Section:
    key = str(frame.columns[0])
    keys = [_label(name, value, t) for value in frame[key]]
    charted: tuple[str, ...]
    if name == "rfm":
        heading, charted, percent = t["an_rfm_classes"], ("customers",), False
    elif name == "deciles":
        heading, charted, percent = t["an_deciles"], ("revenue_share",), True
    else:
        heading, charted, percent = t["an_conv_" + name], CHARTED_RATES[name], True
    series = {t["an_" + column]: [float(v) for v in frame[column]] for column in charted}
    rows = [
        [label, *(_value(v) for v in values)]
        for label, values in zip(keys, frame.iloc[:, 1:].itertuples(index=False), strict=True)
    ]
    return Section(
        name=name,
        heading=heading,
        columns=[str(c) for c in frame.columns],
        rows=rows,
        chart=chart_data(keys, series, percent=percent),
    )


def _label(report: str, value: object, t: dict[str, str]) -> str:
    if report == "rfm":
        return t.get("an_" + str(value), str(value))
    return str(value)


def _value(value: object) -> object:
    return None if isinstance(value, float) and value != value else value


@router.get("")
def analytics(
    request: Request, user: Marketing, database: Annotated[Database, Depends(get_database)]
) -> HTMLResponse:
    """RFM classes, revenue deciles and conversions, each as a chart beside its table."""
    t = words(user.language)
    frames = _frames(database)
    frames["rfm"] = rfm_class_counts(frames["rfm"])
    sections = [_section(name, frames[name], t) for name in REPORTS]
    return render(
        request,
        "analytics_page.html",
        user=user,
        title_key="analytics",
        sections=sections,
        rates=RATES,
    )


@router.get("/{report}.csv")
def analytics_csv(
    report: str, user: Marketing, database: Annotated[Database, Depends(get_database)]
) -> Response:
    """One report as CSV, every row (``rfm`` is one row per customer), UTF-8 with BOM."""
    if report not in REPORTS:
        raise NotFound(f"no analytics report {report!r}; choose one of {', '.join(REPORTS)}")
    frame = _frames(database)[report]
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="analytics-{report}.csv"',
    }
    return Response("\ufeff" + to_csv(frame), media_type="text/csv; charset=utf-8", headers=headers)
