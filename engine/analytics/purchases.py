"""Purchases per customer, aggregated in SQL from purchase events.

A purchase is an event of a configurable type (``purchase`` by default) whose properties
carry the amount (``amount``, else ``revenue``) and optionally a ``currency`` (ISO 4217).
Amounts are summed in the currency's major unit; totals are rounded to its minor units
(none for JPY, two for USD), so yen never grow decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from babel.numbers import get_currency_precision
from sqlalchemy import ColumnElement, Float, case, cast, func, select
from sqlalchemy.orm import Session

from engine.store.models import Event

#: The amount properties tried in order.
AMOUNT_KEYS = ("amount", "revenue")


@dataclass(frozen=True, slots=True)
class PurchaseSource:
    """Which events are purchases and which currency the report is in.

    Purchases in another currency are left out (mixing currencies makes no total);
    a purchase without a ``currency`` property counts as ``currency``.
    """

    event_type: str = "purchase"
    currency: str = "JPY"

    @property
    def precision(self) -> int:
        """Digits after the decimal point for this currency (JPY: 0)."""
        return int(get_currency_precision(self.currency.upper()))


def _number(session: Session, key: str) -> ColumnElement[float | None]:
    """Return ``properties[key]`` as a float, or NULL when it is not a JSON number."""
    column = Event.__table__.c.properties
    if session.get_bind().dialect.name == "postgresql":
        item = column.op("->")(key)
        is_number = func.jsonb_typeof(item) == "number"
        value = cast(column.op("->>")(key), Float)
    else:
        at = f'$."{key}"'
        is_number = func.json_type(column, at).in_(("integer", "real"))
        value = cast(func.json_extract(column, at), Float)
    return case((is_number, value), else_=None)


def json_text(session: Session, column: ColumnElement[Any], key: str) -> ColumnElement[str]:
    """Return the top-level ``key`` of a JSON column as text (NULL when absent)."""
    if session.get_bind().dialect.name == "postgresql":
        return column.op("->>")(key)
    return func.json_extract(column, f'$."{key}"')


def purchase_totals(session: Session, source: PurchaseSource, *, now: datetime) -> pd.DataFrame:
    """Return one row per customer: ``contact_id, orders, revenue, last_purchase_at``.

    Only purchases up to ``now`` count. ``revenue`` is rounded to the currency's minor units.
    """
    events = Event.__table__.c
    amount = func.coalesce(*(_number(session, key) for key in AMOUNT_KEYS))
    currency = json_text(session, events.properties, "currency")
    currency_matches = (
        func.upper(func.coalesce(currency, source.currency)) == source.currency.upper()
    )
    statement = (
        select(
            events.contact_id,
            func.count().label("orders"),
            func.coalesce(func.sum(amount), 0.0).label("revenue"),
            func.max(events.occurred_at).label("last_purchase_at"),
        )
        .where(
            events.type == source.event_type,
            events.contact_id.is_not(None),
            events.occurred_at <= now,
            currency_matches,
        )
        .group_by(events.contact_id)
        .order_by(events.contact_id)
    )
    frame = pd.read_sql(statement, session.connection())
    frame["orders"] = frame["orders"].astype("int64")
    frame["revenue"] = frame["revenue"].astype("float64").round(source.precision)
    frame["last_purchase_at"] = pd.to_datetime(frame["last_purchase_at"], utc=True)
    return frame
