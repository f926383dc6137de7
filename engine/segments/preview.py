"""Count and sample the contacts a condition matches, before a segment or journey is saved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.journey.conditions import Condition
from engine.segments.sql import condition_sql
from engine.store.models import Contact


def count_matching(session: Session, condition: Condition, now: datetime) -> int:
    """Count the contacts ``condition`` matches at ``now``; raises ``UnsupportedInSql``."""
    clause = condition_sql(condition, now=now, dialect=_dialect(session))
    query = select(func.count()).select_from(Contact.__table__).where(clause)
    return int(session.scalar(query) or 0)


def sample_matching(session: Session, condition: Condition, now: datetime, limit: int) -> list[int]:
    """Return up to ``limit`` ids of matching contacts, lowest first; raises ``UnsupportedInSql``."""
    if limit < 0:
        raise ValueError("limit must not be negative")
    clause = condition_sql(condition, now=now, dialect=_dialect(session))
    query = select(Contact.id).where(clause).order_by(Contact.id).limit(limit)
    return list(session.scalars(query))


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name
