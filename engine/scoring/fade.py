"""Decay as set SQL: one period of fading for every inactive contact, once per period.

``decay_runs`` remembers when the ``default`` model last decayed; a run claims the next
period with a guarded UPDATE, so two schedulers asking at once decay once. The SQL is the
same arithmetic as ``engine.scoring.decay.decayed`` (tested against it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, and_, case, cast, func, insert, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from engine.contacts.service import contacts_changed
from engine.scoring.config import active_scoring
from engine.scoring.decay import factor
from engine.scoring.spec import HalfLife, Model
from engine.store.models import Contact, DecayRun, ScoreChange
from engine.store.models.base import table_of

#: Contacts announced as changed per outbox row.
ANNOUNCE_BATCH = 1000


def decay_due(session: Session, model: Model, *, now: datetime) -> bool:
    """Claim the next decay period of the default model if it is due; say whether claimed."""
    decay = model.decay
    if decay is None:
        return False
    runs = table_of(DecayRun)
    last = session.scalar(select(runs.c.decayed_at).where(runs.c.model == "default"))
    if last is None:
        session.execute(insert(runs).values(model="default", decayed_at=now))
        return False  # the first period starts now
    if now - last < decay.every:
        return False
    claimed = session.scalar(
        update(runs)
        .where(runs.c.model == "default", runs.c.decayed_at == last)
        .values(decayed_at=last + decay.every)
        .returning(runs.c.model)
    )
    return claimed is not None


def decay_scores(session: Session, model: Model, *, now: datetime) -> int:
    """Fade the ``default`` score of contacts inactive past ``after``; return how many moved."""
    decay = model.decay
    if decay is None or not decay_due(session, model, now=now):
        return 0
    table = table_of(Contact)
    score = table.c.score
    floor = literal(model.floor)
    if isinstance(decay, HalfLife):
        shrunk = cast(score * factor(decay), Integer)
        if session.get_bind().dialect.name == "postgresql":
            shrunk = cast(func.floor(score * factor(decay)), Integer)  # PG casts by rounding
        lower: ColumnElement[int] = case((shrunk >= score, score - 1), else_=shrunk)
    else:
        lower = score - decay.points
    after: ColumnElement[int] = case((lower < floor, floor), else_=lower)
    inactive = and_(
        score > floor,
        func.coalesce(table.c.last_seen_at, table.c.created_at) <= now - decay.after,
    )
    changes = table_of(ScoreChange)
    session.execute(
        insert(changes).from_select(
            ["contact_id", "model", "delta", "score_after", "reason", "rule", "occurred_at"],
            select(
                table.c.id,
                literal("default"),
                after - score,
                after,
                literal("decay: no activity"),
                literal("decay"),
                literal(now, changes.c.occurred_at.type),
            ).where(inactive),
        )
    )
    moved = list(
        session.scalars(update(table).where(inactive).values(score=after).returning(table.c.id))
    )
    for start in range(0, len(moved), ANNOUNCE_BATCH):
        contacts_changed(session, moved[start : start + ANNOUNCE_BATCH], now=now)
    return len(moved)


def run_decay(session: Session, *, now: datetime) -> int:
    """Decay the synced ``default`` model if a period is due; return how many scores moved."""
    spec = active_scoring(session)
    model = spec.models.get("default") if spec is not None else None
    return decay_scores(session, model, now=now) if model is not None else 0
