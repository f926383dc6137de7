"""Apply the scoring file to stored events, grades and stages, in batches, exactly once.

Each model claims the events it scores in ``scored_events`` (a primary key on model and
event): a redelivered or concurrent batch claims nothing twice, so no event is counted
twice. Scores move by ``score = score + delta`` in one UPDATE, so concurrent batches add
up rather than overwrite. A lead becomes an MQL through ``UPDATE … WHERE lifecycle_stage =
'lead'``: of two racing batches only one finds the row still a lead, so one qualification
makes one stage change and one handoff.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.contacts.service import contacts_changed, dialect_insert
from engine.handoffs.brief import lead_brief
from engine.runtime import outbox
from engine.runtime.topics import HANDOFF_CREATED
from engine.scoring.config import active_scoring
from engine.scoring.grading import grade_for
from engine.scoring.rules import Award, ScoredEvent, award
from engine.scoring.spec import GRADES, Lifecycle, Model, ScoringSpec
from engine.store.bulk import among, insert_rows, update_by_id
from engine.store.models import Contact, Event, Handoff, ScoreChange, StageChange
from engine.store.models import ScoredEvent as ScoredEventRow
from engine.store.models.base import table_of

#: Stages from which reaching the MQL rule qualifies a contact (a customer never is).
QUALIFIABLE = ("subscriber", "lead", "recycled")
SCORE_CHANGE_KINDS = {
    "contact_id": "bigint",
    "model": "text",
    "delta": "int",
    "score_after": "int",
    "reason": "text",
    "rule": "text",
    "event_id": "bigint",
    "occurred_at": "timestamptz",
}


@dataclass(slots=True)
class ScoringResult:
    """What scoring a batch did."""

    awards: int = 0
    changed: set[int] = field(default_factory=set)
    qualified: list[int] = field(default_factory=list)
    handoffs: list[int] = field(default_factory=list)


def score_events(
    session: Session, event_ids: Iterable[int], *, now: datetime, spec: ScoringSpec | None = None
) -> ScoringResult:
    """Score these events under every model (once each), regrade their contacts, qualify MQLs.

    ``spec`` defaults to the synced scoring file; without one nothing happens.
    """
    result = ScoringResult()
    spec = spec or active_scoring(session)
    ids = sorted(set(event_ids))
    if spec is None or not ids:
        return result
    for name, model in spec.models.items():
        awards = score_model(session, name, model, ids, now=now)
        result.awards += len(awards)
        result.changed.update(a.contact_id for a in awards)
    contacts = set(
        session.scalars(
            select(Event.contact_id).where(
                among(session, Event.id, ids), Event.contact_id.is_not(None)
            )
        )
    )
    result.changed |= regrade(session, spec, {c for c in contacts if c is not None}, now=now)
    if spec.lifecycle is not None and result.changed:
        result.qualified, result.handoffs = qualify(
            session, spec.lifecycle, sorted(result.changed), now=now
        )
    if result.changed:
        contacts_changed(session, result.changed, now=now)
    return result


def score_model(
    session: Session, name: str, model: Model, ids: Sequence[int], *, now: datetime
) -> list[Award]:
    """Score the events among ``ids`` that ``model`` has not scored yet; return the awards."""
    types = {rule.event for rule in model.rules}
    if not types:
        return []
    rows = session.execute(
        select(
            Event.id,
            Event.contact_id,
            Event.type,
            Event.properties,
            Event.occurred_at,
            Contact.email,
        )
        .join(Contact, Contact.id == Event.contact_id)
        .where(Event.id.in_(ids), Event.type.in_(types))
    ).all()
    if not rows:
        return []
    claim = (
        dialect_insert(session, ScoredEventRow)
        .on_conflict_do_nothing(index_elements=["model", "event_id"])
        .returning(table_of(ScoredEventRow).c.event_id)
    )
    # executemany keeps one compiled statement; SQLAlchemy batches it into multi-row VALUES.
    claimed = set(
        session.scalars(
            claim,
            [{"model": name, "event_id": r[0], "scored_at": now} for r in rows],
            execution_options={"sort_by_parameter_order": False},
        )
    )
    events = [ScoredEvent(*r) for r in rows if r[0] in claimed]
    if not events:
        return []
    awards = award(model, events, _earlier(session, name, model, events))
    if awards:
        _apply(session, name, awards)
    return awards


def _earlier(
    session: Session, name: str, model: Model, events: Sequence[ScoredEvent]
) -> dict[tuple[int, str], list[datetime]]:
    """Stored award times of the capped rules, within the longest cap before the batch."""
    capped = {rule.id: rule.cap.per for rule in model.rules if rule.cap is not None}
    if not capped:
        return {}
    since = min(e.occurred_at for e in events) - max(capped.values())
    earlier: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for contact_id, rule, at in session.execute(
        select(ScoreChange.contact_id, ScoreChange.rule, ScoreChange.occurred_at).where(
            ScoreChange.model == name,
            ScoreChange.contact_id.in_({e.contact_id for e in events}),
            ScoreChange.rule.in_(capped),
            ScoreChange.occurred_at > since,
        )
    ):
        earlier[(contact_id, str(rule))].append(at)
    return earlier


def _apply(session: Session, name: str, awards: Sequence[Award]) -> None:
    """Move the scores by the awards' sum and store each award with the score after it."""
    totals: dict[int, int] = defaultdict(int)
    for a in awards:
        totals[a.contact_id] += a.points
    contact_ids = sorted(totals)
    if name == "default":
        update_by_id(
            session,
            table_of(Contact),
            [{"id": c, "score": totals[c]} for c in contact_ids],
            {"score": "int"},
            added=frozenset({"score"}),
        )
        # Read after the UPDATE: the rows are ours until commit, so this is the exact total.
        after: dict[int, int] = dict(
            session.execute(
                select(Contact.id, Contact.score).where(Contact.id.in_(contact_ids))
            ).all()
        )
        running = {c: after[c] - totals[c] for c in contact_ids}
    else:
        running = model_scores(session, name, contact_ids)
    rows = []
    for a in awards:
        running[a.contact_id] += a.points
        rows.append(
            {
                "contact_id": a.contact_id,
                "model": name,
                "delta": a.points,
                "score_after": running[a.contact_id],
                "reason": a.reason,
                "rule": a.rule,
                "event_id": a.event_id,
                "occurred_at": a.occurred_at,
            }
        )
    insert_rows(session, table_of(ScoreChange), rows, SCORE_CHANGE_KINDS)


def model_scores(session: Session, name: str, contact_ids: Sequence[int]) -> dict[int, int]:
    """Return each contact's score under a named model: its newest change's ``score_after``."""
    scores = dict.fromkeys(contact_ids, 0)
    newest = (
        select(ScoreChange.contact_id, ScoreChange.score_after)
        .where(ScoreChange.model == name, ScoreChange.contact_id.in_(contact_ids))
        .order_by(ScoreChange.contact_id, ScoreChange.occurred_at, ScoreChange.id)
    )
    for contact_id, score in session.execute(newest):
        scores[contact_id] = score
    return scores


def regrade(
    session: Session, spec: ScoringSpec, contact_ids: Iterable[int], *, now: datetime
) -> set[int]:
    """Set the fit grade of these contacts from their attributes; return those that changed."""
    if spec.grade is None:
        return set()
    ids = sorted(set(contact_ids))
    changed = [
        {"id": contact_id, "grade": grade}
        for contact_id, attributes, old in session.execute(
            select(Contact.id, Contact.attributes, Contact.grade).where(Contact.id.in_(ids))
        )
        if (grade := grade_for(spec.grade, attributes or {})) != old
    ]
    update_by_id(
        session, table_of(Contact), changed, {"grade": "text"}, constants={"updated_at": now}
    )
    return {row["id"] for row in changed}


def qualify(
    session: Session, lifecycle: Lifecycle, contact_ids: Sequence[int], *, now: datetime
) -> tuple[list[int], list[int]]:
    """Make MQLs of these contacts that meet the rule; return them and the handoffs made.

    The guarded UPDATE decides, not a prior read: a contact qualifies once per cycle
    however many batches race to qualify it.
    """
    mql = lifecycle.mql
    table = table_of(Contact)
    if mql.model == "default":
        meets = table.c.score >= mql.score_at_least
    else:
        scores = model_scores(session, mql.model, contact_ids)
        eligible = [c for c, s in scores.items() if s >= mql.score_at_least]
        meets = table.c.id.in_(eligible)
    if mql.grade_at_least is not None:
        meets = meets & table.c.grade.in_(GRADES[: GRADES.index(mql.grade_at_least) + 1])
    qualified: list[tuple[int, str]] = []
    for stage in QUALIFIABLE:
        moved = session.scalars(
            update(table)
            .where(table.c.id.in_(contact_ids), table.c.lifecycle_stage == stage, meets)
            .values(lifecycle_stage="mql", updated_at=now)
            .returning(table.c.id)
        )
        qualified += [(contact_id, stage) for contact_id in moved]
    if not qualified:
        return [], []
    reason = f"score ≥ {mql.score_at_least}" + (
        f" and grade ≥ {mql.grade_at_least}" if mql.grade_at_least else ""
    )
    session.execute(
        table_of(StageChange).insert(),
        [
            {
                "contact_id": c,
                "from_stage": stage,
                "to_stage": "mql",
                "reason": f"MQL rule: {reason}",
                "occurred_at": now,
            }
            for c, stage in qualified
        ],
    )
    handoffs = _hand_off(session, lifecycle, [c for c, _ in qualified], reason, now=now)
    return [c for c, _ in qualified], handoffs


def _hand_off(
    session: Session, lifecycle: Lifecycle, contact_ids: Sequence[int], why: str, *, now: datetime
) -> list[int]:
    rule = lifecycle.handoff
    if rule is None:
        return []
    rows: list[dict[str, Any]] = [
        {
            "contact_id": contact_id,
            "pool": rule.pool,
            "status": "pending",
            "reason": None,
            "brief": {
                "strategy": rule.strategy,
                "fallback": dict(rule.fallback),
                "qualified_by": f"MQL rule: {why}",
                **lead_brief(session, contact_id),
            },
            "created_at": now,
        }
        for contact_id in contact_ids
    ]
    stmt = table_of(Handoff).insert().returning(table_of(Handoff).c.id)
    ids = [int(i) for i in session.scalars(stmt, rows)]
    for handoff_id in ids:
        outbox.enqueue(session, HANDOFF_CREATED, {"handoff_id": handoff_id}, now=now)
    return ids


def regrade_all(session: Session, spec: ScoringSpec, *, now: datetime, batch: int = 1000) -> int:
    """Set every contact's grade from its attributes, in keyset batches; return how many moved."""
    moved, after = 0, 0
    while True:
        ids = list(
            session.scalars(
                select(Contact.id).where(Contact.id > after).order_by(Contact.id).limit(batch)
            )
        )
        if not ids:
            return moved
        changed = regrade(session, spec, ids, now=now)
        if changed:
            contacts_changed(session, changed, now=now)
        moved += len(changed)
        after = ids[-1]


def recheck_contacts(
    session: Session, contact_ids: Iterable[int], *, now: datetime, spec: ScoringSpec | None = None
) -> ScoringResult:
    """Regrade contacts whose data changed and qualify any that now meet the MQL rule.

    The caller re-checks segments and journeys for these contacts next, so nothing is
    announced here.
    """
    result = ScoringResult()
    spec = spec or active_scoring(session)
    ids = sorted(set(contact_ids))
    if spec is None or not ids:
        return result
    result.changed = regrade(session, spec, ids, now=now)
    if spec.lifecycle is not None:
        result.qualified, result.handoffs = qualify(session, spec.lifecycle, ids, now=now)
    return result
