"""Recompute a model's scores from the stored events, after its rules changed.

One transaction: the model's rule and decay changes and its ``scored_events`` claims are
deleted, scores are reset to what journeys gave by hand (``score`` steps), and every event
is scored again oldest first, in keyset batches. Decay is not replayed: the next decay
period starts from the rescored values.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from engine.contacts.service import contacts_changed
from engine.scoring.service import regrade, score_model
from engine.scoring.spec import ScoringSpec
from engine.store.models import Contact, Event, ScoreChange, ScoredEvent
from engine.store.models.base import table_of

#: Events scored per batch.
RESCORE_BATCH = 2000


def rescore(session: Session, spec: ScoringSpec, *, now: datetime, model: str | None = None) -> int:
    """Rescore ``model`` (every model when None) from all stored events; return the awards.

    Raises KeyError naming an unknown model.
    """
    names = [model] if model is not None else list(spec.models)
    unknown = [n for n in names if n not in spec.models]
    if unknown:
        raise KeyError(f"no scoring model {unknown[0]!r}; models: {', '.join(spec.models)}")
    awards = 0
    changed: set[int] = set()
    for name in names:
        session.execute(
            delete(ScoreChange).where(
                ScoreChange.model == name,
                or_(ScoreChange.event_id.is_not(None), ScoreChange.rule == "decay"),
            )
        )
        session.execute(delete(ScoredEvent).where(ScoredEvent.model == name))
        if name == "default":
            kept = (
                select(func.coalesce(func.sum(ScoreChange.delta), 0))
                .where(ScoreChange.model == "default", ScoreChange.contact_id == Contact.id)
                .scalar_subquery()
            )
            table = table_of(Contact)
            changed.update(
                session.scalars(
                    update(table)
                    .where(table.c.score != kept)
                    .values(score=kept)
                    .returning(table.c.id)
                )
            )
        after = 0
        while True:
            ids = list(
                session.scalars(
                    select(Event.id)
                    .where(Event.id > after, Event.contact_id.is_not(None))
                    .order_by(Event.id)
                    .limit(RESCORE_BATCH)
                )
            )
            if not ids:
                break
            given = score_model(session, name, spec.models[name], ids, now=now)
            awards += len(given)
            changed.update(a.contact_id for a in given)
            after = ids[-1]
    changed |= regrade(session, spec, changed, now=now)
    ordered = sorted(changed)
    for start in range(0, len(ordered), 1000):
        contacts_changed(session, ordered[start : start + 1000], now=now)
    return awards
