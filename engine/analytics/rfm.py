"""RFM: score customers 1–5 on recency, frequency and money spent, and name their class.

Scores are quintiles of each customer's rank among all customers: the average rank of
tied values decides, so customers with equal values always share a score (most buy once;
they all land in the same frequency quintile rather than being split arbitrarily).
A recent purchase scores high on recency. The class comes from the recency score and
the rounded mean of the frequency and monetary scores (the common 11-class RFM map).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from engine.analytics.purchases import PurchaseSource, purchase_totals
from engine.journey.conditions import RFM_CLASSES
from engine.store.models import RfmScore

__all__ = [
    "RFM_CLASSES", "compute_rfm", "refresh_rfm_if_due", "rfm_class", "score_rfm", "store_rfm",
]  # fmt: skip

RFM_COLUMNS = ("contact_id", "recency_days", "frequency", "monetary", "r", "f", "m", "class")


def rfm_class(r: int, fm: int) -> str:
    """Return the RFM class for recency score ``r`` and frequency-monetary score ``fm`` (1–5)."""
    if not (1 <= r <= 5 and 1 <= fm <= 5):
        raise ValueError(f"RFM scores run from 1 to 5, got r={r} fm={fm}")
    if r <= 2:
        if fm == 5:
            return "cannot_lose"
        if fm >= 3:
            return "at_risk"
        return "lost" if r == 1 and fm == 1 else "hibernating"
    if fm >= 4:
        return "champions" if r == 5 else "loyal"
    if r == 3:
        return "needs_attention" if fm == 3 else "about_to_sleep"
    if fm >= 2:
        return "potential_loyalists"
    return "new" if r == 5 else "promising"


def quintile(values: pd.Series) -> pd.Series:
    """Return 1–5 for each value: the quintile of its average rank (ties share a score)."""
    if values.empty:
        return values.astype("int64")
    share = values.rank(method="average", pct=True)
    return pd.Series(np.ceil(share * 5).clip(1, 5).astype("int64"), index=values.index)


def score_rfm(totals: pd.DataFrame, *, now: datetime) -> pd.DataFrame:
    """Score purchase totals (``contact_id, orders, revenue, last_purchase_at``) at ``now``.

    Returns ``contact_id, recency_days, frequency, monetary, r, f, m, class``, one row per
    customer, sorted by contact id. ``recency_days`` counts whole days since the last purchase.
    """
    frame = pd.DataFrame(
        {
            "contact_id": totals["contact_id"].astype("int64"),
            "recency_days": (pd.Timestamp(now) - totals["last_purchase_at"]).dt.days.astype(
                "int64"
            ),
            "frequency": totals["orders"].astype("int64"),
            "monetary": totals["revenue"].astype("float64"),
        }
    )
    frame["r"] = quintile(-frame["recency_days"])
    frame["f"] = quintile(frame["frequency"])
    frame["m"] = quintile(frame["monetary"])
    # Round half up: (f + m) / 2 of 3.5 is 4, not banker's 4-or-2 alternation.
    fm = np.floor((frame["f"] + frame["m"]) / 2 + 0.5).astype("int64")
    frame["class"] = [rfm_class(r, x) for r, x in zip(frame["r"], fm, strict=True)]
    return frame.sort_values("contact_id").reset_index(drop=True)[list(RFM_COLUMNS)]


def compute_rfm(
    session: Session, *, now: datetime, source: PurchaseSource | None = None
) -> pd.DataFrame:
    """Return every customer's RFM scores and class at ``now`` (see ``score_rfm``)."""
    totals = purchase_totals(session, source or PurchaseSource(), now=now)
    return score_rfm(totals, now=now)


def store_rfm(session: Session, scores: pd.DataFrame, *, now: datetime) -> int:
    """Replace ``rfm_scores`` with ``scores``; return the rows stored. The caller commits."""
    session.execute(delete(RfmScore))
    rows = list(_rows(scores, now))
    if rows:
        session.execute(insert(RfmScore), rows)
    return len(rows)


def _rows(scores: pd.DataFrame, now: datetime) -> Iterable[dict[str, object]]:
    ints = ("contact_id", "recency_days", "frequency", "r", "f", "m")
    columns = {name: scores[name].astype("int64").tolist() for name in ints}
    monetary = scores["monetary"].astype("float64").tolist()
    classes = scores["class"].astype(str).tolist()
    for i, contact_id in enumerate(columns["contact_id"]):
        yield {
            **{name: values[i] for name, values in columns.items()},
            "contact_id": contact_id,
            "monetary": monetary[i],
            "rfm_class": classes[i],
            "computed_at": now,
        }


#: How old stored RFM scores may get before the scheduler recomputes them.
RFM_REFRESH_EVERY = timedelta(days=1)


def refresh_rfm_if_due(
    session: Session, *, now: datetime, source: PurchaseSource | None = None
) -> int | None:
    """Recompute and store RFM scores if none are stored or they are a day old.

    Returns the customers stored, or None when the stored scores are still fresh. Checking
    the stored time (not a timer) means a restarted scheduler does not recompute early.
    """
    newest = session.scalar(select(func.max(RfmScore.computed_at)))
    if newest is not None and newest > now - RFM_REFRESH_EVERY:
        return None
    return store_rfm(session, compute_rfm(session, now=now, source=source), now=now)
