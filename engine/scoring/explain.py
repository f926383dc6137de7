"""Why a contact scored what it did: every stored change, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.contacts.fields import normalize_email
from engine.errors import NotFound
from engine.scoring.service import model_scores
from engine.store.models import Contact, ScoreChange


@dataclass(frozen=True, slots=True)
class Reason:
    """One stored score change."""

    occurred_at: datetime
    delta: int
    score_after: int
    rule: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """A contact's score under one model, grade and stage, with the changes behind it."""

    email: str
    model: str
    score: int
    grade: str | None
    lifecycle_stage: str
    reasons: list[Reason]


def explain(
    session: Session, email: str, *, model: str = "default", limit: int = 50
) -> Explanation:
    """Return the contact's score and its newest ``limit`` reasons; NotFound for an unknown email."""
    contact = session.scalars(
        select(Contact).where(Contact.email == normalize_email(email))
    ).first()
    if contact is None:
        raise NotFound(f"no contact with email {email!r}")
    score = (
        contact.score
        if model == "default"
        else model_scores(session, model, [contact.id])[contact.id]
    )
    rows = session.execute(
        select(
            ScoreChange.occurred_at,
            ScoreChange.delta,
            ScoreChange.score_after,
            ScoreChange.rule,
            ScoreChange.reason,
        )
        .where(ScoreChange.contact_id == contact.id, ScoreChange.model == model)
        .order_by(ScoreChange.occurred_at.desc(), ScoreChange.id.desc())
        .limit(limit)
    )
    return Explanation(
        contact.email,
        model,
        score,
        contact.grade,
        contact.lifecycle_stage,
        [Reason(*row) for row in rows],
    )
