"""Conversion rates per journey, per acquisition source and per lifecycle stage.

- **journey**: enrollments entered → reached a goal / completed (left by an exit step
  whose reason is ``completed``).
- **source**: contacts per source → customers (lifecycle stage ``customer`` or at least one
  purchase). The source is the contact's ``source`` attribute, else the ``utm_source`` of
  its first event that has one (first touch), else ``(none)``.
- **stage**: contacts that ever reached a stage → reached a later stage of the funnel
  (subscriber → lead → MQL → SQL → opportunity → customer), with the median days it took.
  The ``mql`` row is the MQL→SQL-or-later rate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import pandas as pd
from sqlalchemy import and_, case, exists, func, literal, select
from sqlalchemy.orm import Session

from engine.analytics.purchases import PurchaseSource, json_text
from engine.store.models import Contact, Enrollment, Event, StageChange, StepRun

ConversionDimension = Literal["journey", "source", "stage"]
CONVERSION_DIMENSIONS: tuple[ConversionDimension, ...] = ("journey", "source", "stage")
FUNNEL: tuple[str, ...] = ("subscriber", "lead", "mql", "sql", "opportunity", "customer")
NO_SOURCE = "(none)"


def conversions(
    session: Session,
    *,
    by: ConversionDimension,
    now: datetime,
    source: PurchaseSource | None = None,
) -> pd.DataFrame:
    """Return the conversion table for ``by`` (see the module docstring) as of ``now``."""
    if by == "journey":
        return journey_conversions(session, now=now)
    if by == "source":
        return source_conversions(session, now=now, source=source or PurchaseSource())
    if by == "stage":
        return stage_conversions(session, now=now)
    raise ValueError(f"by: expected one of {', '.join(CONVERSION_DIMENSIONS)}, got {by!r}")


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator > 0)).fillna(0.0).round(4)


def journey_conversions(session: Session, *, now: datetime) -> pd.DataFrame:
    """Return ``journey, entered, goal_reached, completed, goal_rate, completion_rate``."""
    e = Enrollment.__table__.c
    goal = exists(
        select(literal(1))
        .where(StepRun.enrollment_id == e.id, StepRun.step.like("goal:%"))
        .correlate_except(StepRun.__table__)
    )
    done = and_(e.status == "exited", e.exit_reason == "completed")
    statement = (
        select(
            e.journey_id.label("journey"),
            func.count().label("entered"),
            func.sum(case((goal, 1), else_=0)).label("goal_reached"),
            func.sum(case((done, 1), else_=0)).label("completed"),
        )
        .where(e.entered_at <= now)
        .group_by(e.journey_id)
        .order_by(e.journey_id)
    )
    frame = _counts(
        pd.read_sql(statement, session.connection()), "entered", "goal_reached", "completed"
    )
    frame["goal_rate"] = _rate(frame["goal_reached"], frame["entered"])
    frame["completion_rate"] = _rate(frame["completed"], frame["entered"])
    return frame


def source_conversions(session: Session, *, now: datetime, source: PurchaseSource) -> pd.DataFrame:
    """Return ``source, contacts, customers, conversion_rate``, biggest source first."""
    c, ev = Contact.__table__.c, Event.__table__.c
    utm = json_text(session, ev.properties, "utm_source")
    first_touch = (
        select(utm)
        .where(ev.contact_id == c.id, utm.is_not(None), ev.occurred_at <= now)
        .order_by(ev.occurred_at, ev.id)
        .limit(1)
        .correlate_except(Event.__table__)
        .scalar_subquery()
    )
    bought = exists(
        select(literal(1))
        .where(ev.contact_id == c.id, ev.type == source.event_type, ev.occurred_at <= now)
        .correlate_except(Event.__table__)
    )
    label = func.coalesce(json_text(session, c.attributes, "source"), first_touch, NO_SOURCE)
    customer = case(((c.lifecycle_stage == "customer") | bought, 1), else_=0)
    per_contact = (
        select(label.label("source"), customer.label("customer"))
        .where(c.created_at <= now)
        .subquery()
    )
    statement = select(
        per_contact.c.source,
        func.count().label("contacts"),
        func.sum(per_contact.c.customer).label("customers"),
    ).group_by(per_contact.c.source)
    frame = _counts(pd.read_sql(statement, session.connection()), "contacts", "customers")
    frame["conversion_rate"] = _rate(frame["customers"], frame["contacts"])
    return frame.sort_values(["contacts", "source"], ascending=[False, True]).reset_index(drop=True)


def stage_conversions(session: Session, *, now: datetime) -> pd.DataFrame:
    """Return ``stage, reached, advanced, conversion_rate, median_days_to_advance`` per stage."""
    s = StageChange.__table__.c
    statement = (
        select(s.contact_id, s.to_stage.label("stage"), func.min(s.occurred_at).label("at"))
        .where(s.to_stage.in_(FUNNEL), s.occurred_at <= now)
        .group_by(s.contact_id, s.to_stage)
    )
    firsts = pd.read_sql(statement, session.connection())
    firsts["at"] = pd.to_datetime(firsts["at"], utc=True)
    reached = firsts.pivot(index="contact_id", columns="stage", values="at")
    rows = []
    for i, stage in enumerate(FUNNEL[:-1]):
        if stage not in reached:
            rows.append((stage, 0, 0, float("nan")))
            continue
        later = [x for x in FUNNEL[i + 1 :] if x in reached]
        entered = reached[stage].dropna()
        if later:
            # The first later stage reached after this one counts as advancing.
            after = reached.loc[entered.index, later].where(
                reached.loc[entered.index, later].ge(entered, axis=0)
            )
            next_at = after.min(axis=1).dropna()
        else:
            next_at = pd.Series(dtype="datetime64[ns, UTC]")
        days = (next_at - entered.loc[next_at.index]).dt.total_seconds() / 86_400
        rows.append(
            (stage, len(entered), len(next_at), days.median() if len(days) else float("nan"))
        )
    frame = pd.DataFrame(rows, columns=["stage", "reached", "advanced", "median_days_to_advance"])
    frame["conversion_rate"] = _rate(frame["advanced"], frame["reached"])
    frame["median_days_to_advance"] = frame["median_days_to_advance"].round(2)
    return frame[["stage", "reached", "advanced", "conversion_rate", "median_days_to_advance"]]


def _counts(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = frame[column].fillna(0).astype("int64")
    return frame
