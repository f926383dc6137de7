"""Decile analysis: how revenue concentrates among customers ranked by what they spent."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from engine.analytics.purchases import PurchaseSource, purchase_totals

DECILE_COLUMNS = (
    "decile", "customers", "orders", "revenue", "revenue_share", "cumulative_share",
    "average_order_value",
)  # fmt: skip


def deciles_of(totals: pd.DataFrame, *, precision: int = 0) -> pd.DataFrame:
    """Split customers into ten equal groups by revenue, decile 1 the biggest spenders.

    With ties the lower contact id ranks first, so every run splits alike. Shares are
    fractions (0–1); money is rounded to ``precision`` digits. Empty deciles are left out.
    """
    if totals.empty:
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in DECILE_COLUMNS})
    ranked = totals.sort_values(["revenue", "contact_id"], ascending=[False, True])
    count = len(ranked)
    position = np.arange(1, count + 1)
    ranked = ranked.assign(decile=np.ceil(position * 10 / count).astype("int64"))
    grouped = ranked.groupby("decile", sort=True).agg(
        customers=("contact_id", "size"), orders=("orders", "sum"), revenue=("revenue", "sum")
    )
    total = float(grouped["revenue"].sum()) or 1.0  # all-zero revenue: shares of 0
    grouped["revenue_share"] = (grouped["revenue"] / total).round(4)
    grouped["cumulative_share"] = (grouped["revenue"].cumsum() / total).round(4)
    grouped["average_order_value"] = (grouped["revenue"] / grouped["orders"]).round(precision)
    grouped["revenue"] = grouped["revenue"].round(precision)
    return grouped.reset_index()[list(DECILE_COLUMNS)]


def revenue_deciles(
    session: Session, *, now: datetime, source: PurchaseSource | None = None
) -> pd.DataFrame:
    """Return the revenue deciles of every customer with a purchase up to ``now``."""
    source = source or PurchaseSource()
    return deciles_of(purchase_totals(session, source, now=now), precision=source.precision)
