"""``GET /api/stats/delivery``: delivery figures from the rollups, grouped as asked.

Per-journey step counts are ``GET /api/journeys/{id}/stats``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from admin.api.deps import get_database, require
from engine.auth.apikeys import Principal
from engine.clock import utcnow
from engine.errors import FieldProblem, InvalidInput
from engine.stats.metrics import Window
from engine.stats.queries import GroupBy, breakdown, hours_of, totals
from engine.stats.report import bring_up_to_date
from engine.store.db import Database

router = APIRouter(prefix="/api/stats", tags=["stats"])
Operator = Annotated[Principal, Depends(require("marketer"))]
#: The longest window one call may ask for.
MAX_SPAN = timedelta(days=400)


class DeliveryFigures(BaseModel):
    """Counts per metric; rates are fractions (0.02 = 2 %)."""

    sent: int
    delivered: int = Field(description="sent minus bounced")
    deferred: int
    failed: int
    bounced_hard: int
    bounced_soft: int
    complained: int
    unsubscribed: int
    opens_human: int
    opens_machine: int
    unique_opens_human: int = Field(description="messages first opened by a person")
    unique_opens_machine: int
    clicks_human: int
    clicks_machine: int
    unique_clicks_human: int
    unique_clicks_machine: int
    bounce_rate: float
    complaint_rate: float
    click_to_open: float = Field(description="unique human clicks / unique human opens")


class DeliveryRow(DeliveryFigures):
    """One group: an ISO hour or date (UTC), or a journey, campaign, template, variant or
    domain (``""`` when the message had none)."""

    key: str


class DeliveryStats(BaseModel):
    """Totals and rows over ``[from, to)``, widened to whole UTC hours."""

    from_: datetime = Field(serialization_alias="from")
    to: datetime
    group_by: GroupBy
    totals: DeliveryFigures
    rows: list[DeliveryRow]


@router.get("/delivery", response_model=DeliveryStats, response_model_by_alias=True)
def delivery(
    _: Operator,
    database: Annotated[Database, Depends(get_database)],
    from_: Annotated[
        AwareDatetime | None, Query(alias="from", description="default: 7 days before `to`")
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
    group_by: GroupBy = "day",
) -> DeliveryStats:
    """Sent, delivered, deferred, bounces, complaints, unsubscribes, opens and clicks.

    Figures come from hourly rollups brought up to date first, so they are exact; days and
    hours are UTC. Needs an ``admin`` or ``marketer`` key.
    """
    now = utcnow()
    end = to or now
    start = from_ or end - timedelta(days=7)
    if start >= end:
        raise InvalidInput("bad window", problems=[FieldProblem("from", "must be before `to`")])
    if end - start > MAX_SPAN:
        raise InvalidInput(
            "window too long", problems=[FieldProblem("from", f"at most {MAX_SPAN.days} days")]
        )
    window = hours_of(Window(start, end))
    with database.unit_of_work() as session:
        bring_up_to_date(session, now=now)
    with database.sessions() as session:
        total = totals(session, window)
        rows = breakdown(session, window, group_by)
    return DeliveryStats(
        from_=window.start,
        to=window.end,
        group_by=group_by,
        totals=DeliveryFigures.model_validate(total),
        rows=[DeliveryRow.model_validate({"key": row.key, **row.figures}) for row in rows],
    )
