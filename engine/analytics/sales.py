"""Sales follow-up per rep: handoffs accepted (MQL → SQL) and how fast reps accept."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import Handoff, User

SALES_COLUMNS = (
    "rep", "handoffs", "accepted", "rejected", "open", "accept_rate", "median_hours_to_accept",
)  # fmt: skip
UNASSIGNED = "(unassigned)"
ALL_REPS = "(all)"


def sales_by_rep(session: Session, *, now: datetime) -> pd.DataFrame:
    """Return one row per rep plus an ``(all)`` row; ``accept_rate`` is the MQL→SQL rate.

    A handoff is accepted or rejected by its status; every other status is still open.
    Hours to accept run from the handoff's creation to the rep's response.
    """
    h, u = Handoff.__table__.c, User.__table__.c
    statement = (
        select(u.email.label("rep"), h.status, h.created_at, h.responded_at)
        .select_from(Handoff.__table__.outerjoin(User.__table__, u.id == h.assignee_id))
        .where(h.created_at <= now)
    )
    rows = pd.read_sql(statement, session.connection())
    rows["rep"] = rows["rep"].fillna(UNASSIGNED)
    rows["accepted"] = rows["status"] == "accepted"
    rows["rejected"] = rows["status"] == "rejected"
    rows["open"] = ~(rows["accepted"] | rows["rejected"])
    created = pd.to_datetime(rows["created_at"], utc=True)
    responded = pd.to_datetime(rows["responded_at"], utc=True)
    rows["hours"] = ((responded - created).dt.total_seconds() / 3600).where(rows["accepted"])
    every = rows.assign(rep=ALL_REPS)
    frame = (
        pd.concat([rows, every])
        .groupby("rep", sort=True)
        .agg(
            handoffs=("status", "size"),
            accepted=("accepted", "sum"),
            rejected=("rejected", "sum"),
            open=("open", "sum"),
            median_hours_to_accept=("hours", "median"),
        )
        .reset_index()
    )
    for column in ("handoffs", "accepted", "rejected", "open"):
        frame[column] = frame[column].astype("int64")
    frame["accept_rate"] = (frame["accepted"] / frame["handoffs"]).fillna(0.0).round(4)
    frame["median_hours_to_accept"] = frame["median_hours_to_accept"].round(2)
    return frame[list(SALES_COLUMNS)]
