"""Customer analytics with pandas: RFM classes, revenue deciles, conversion and sales rates.

SQL does the set work (grouping events, enrollments and handoffs per contact); pandas does
the scoring math on the aggregates. Every report is a ``DataFrame`` with a CSV export.
"""

from engine.analytics.conversions import CONVERSION_DIMENSIONS, conversions
from engine.analytics.deciles import revenue_deciles
from engine.analytics.purchases import PurchaseSource
from engine.analytics.rfm import (
    RFM_CLASSES,
    compute_rfm,
    refresh_rfm_if_due,
    rfm_class,
    score_rfm,
    store_rfm,
)
from engine.analytics.sales import sales_by_rep

__all__ = [
    "CONVERSION_DIMENSIONS",
    "RFM_CLASSES",
    "PurchaseSource",
    "compute_rfm",
    "conversions",
    "refresh_rfm_if_due",
    "revenue_deciles",
    "rfm_class",
    "sales_by_rep",
    "score_rfm",
    "store_rfm",
]
