"""Analytics for the admin UI: RFM, revenue deciles, conversion rates, sales follow-up.

Each report is computed on request from the database as of ``as_of`` (default: now) and
answered as JSON rows, or as CSV with ``?format=csv`` (UTF-8 with a BOM, for Excel).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from admin.api.deps import Reader, SessionDep
from engine.analytics import PurchaseSource, compute_rfm, conversions, revenue_deciles
from engine.analytics import sales_by_rep as sales_report
from engine.analytics.conversions import ConversionDimension
from engine.analytics.export import to_csv, to_records
from engine.clock import utcnow

router = APIRouter(prefix="/api/analytics", tags=["analytics"])

Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")]
AsOf = Annotated[
    datetime | None, Query(description="Compute as of this time (ISO 8601; default now).")
]
EventType = Annotated[str, Query(max_length=100, description="The purchase event type.")]
Currency = Annotated[
    str, Query(pattern=r"^[A-Za-z]{3}$", description="ISO 4217 currency of the amounts.")
]


class ReportOut(BaseModel):
    """A report's rows, one object per row; missing numbers are null."""

    as_of: datetime
    columns: list[str]
    rows: list[dict[str, Any]]


def _moment(as_of: datetime | None) -> datetime:
    if as_of is None:
        return utcnow()
    return as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=UTC)


def _answer(frame: pd.DataFrame, name: str, fmt: str, as_of: datetime) -> ReportOut | Response:
    if fmt == "csv":
        return Response(
            content="\ufeff" + to_csv(frame),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return ReportOut(as_of=as_of, columns=[str(c) for c in frame.columns], rows=to_records(frame))


@router.get("/rfm", response_model=ReportOut)
def rfm(
    session: SessionDep,
    _: Reader,
    format: Format = "json",
    as_of: AsOf = None,
    event: EventType = "purchase",
    currency: Currency = "JPY",
) -> ReportOut | Response:
    """Every customer's recency, frequency, monetary, their 1–5 scores and RFM class."""
    now = _moment(as_of)
    frame = compute_rfm(session, now=now, source=PurchaseSource(event, currency.upper()))
    return _answer(frame, "rfm", format, now)


@router.get("/deciles", response_model=ReportOut)
def deciles(
    session: SessionDep,
    _: Reader,
    format: Format = "json",
    as_of: AsOf = None,
    event: EventType = "purchase",
    currency: Currency = "JPY",
) -> ReportOut | Response:
    """Customers in ten groups by revenue: counts, revenue share, cumulative share, AOV."""
    now = _moment(as_of)
    source = PurchaseSource(event, currency.upper())
    return _answer(revenue_deciles(session, now=now, source=source), "deciles", format, now)


@router.get("/conversions", response_model=ReportOut)
def conversion_rates(
    session: SessionDep,
    _: Reader,
    by: Annotated[ConversionDimension, Query(description="journey, source or stage.")] = "journey",
    format: Format = "json",
    as_of: AsOf = None,
) -> ReportOut | Response:
    """Conversion rates per journey, per acquisition source, or per lifecycle stage."""
    now = _moment(as_of)
    return _answer(conversions(session, by=by, now=now), f"conversions-{by}", format, now)


@router.get("/sales", response_model=ReportOut)
def sales(
    session: SessionDep, _: Reader, format: Format = "json", as_of: AsOf = None
) -> ReportOut | Response:
    """Handoffs per rep: accepted (MQL → SQL), rejected, open, median hours to accept."""
    now = _moment(as_of)
    return _answer(sales_report(session, now=now), "sales", format, now)
