"""Date and schedule triggers: each window of time walked once, in committed batches.

A trigger's checkpoint (``trigger_checkpoints``) holds the end of the last window done.
A new window ``(checked_until, now]`` is fixed when its walk starts (``window_end``); the
contacts are walked in id order and the last id done (``cursor``) is committed with each
batch's enrollments. A crash resumes after the cursor, and a moment belongs to exactly one
window, so every contact's date fires once and a schedule enrolls its audience once per
firing, however many schedulers run or restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.journey.conditions import Condition
from engine.journey.entry import correlation_key
from engine.journey.timed_entry import date_moment, date_window, late_horizon, latest_fire
from engine.journey.triggers import DateTrigger, ScheduleTrigger
from engine.runtime.enroll import EnrollResult, admit_and_insert
from engine.runtime.journeys import CompiledJourneys, Published
from engine.runtime.routing import active_versions
from engine.runtime.views import contact_document, select_documents
from engine.segments.errors import UnsupportedInSql
from engine.segments.sql import condition_sql
from engine.store.db import Database
from engine.store.models import Contact, JourneyVersion, TriggerCheckpoint

log = logging.getLogger(__name__)

#: Contacts looked at per committed batch.
BATCH = 1_000
_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


@dataclass(frozen=True, slots=True)
class _Walk:
    journey_id: str
    name: str
    published: Published


def run_timed_triggers(
    database: Database, *, now: datetime, journeys: CompiledJourneys, batch: int = BATCH
) -> EnrollResult:
    """Walk every active journey's date and schedule triggers up to ``now``."""
    with database.unit_of_work() as session:
        active = active_versions(session, journeys)
    total = EnrollResult()
    for journey_id, published in sorted(active.items()):
        for index, trigger in enumerate(published.compiled.spec.triggers):
            walk = _Walk(journey_id, f"{_kind(trigger)}:{index}", published)
            try:
                if isinstance(trigger, DateTrigger):
                    while not _date_batch(
                        database, walk, trigger, now=now, batch=batch, total=total
                    ):
                        pass
                elif isinstance(trigger, ScheduleTrigger):
                    while not _schedule_batch(
                        database, walk, trigger, now=now, batch=batch, total=total
                    ):
                        pass
            except (
                UnsupportedInSql
            ) as error:  # validated at deploy; a stored old version may not be
                log.error("journey %s trigger %s cannot run: %s", journey_id, walk.name, error)
    return total


def _kind(trigger: object) -> str:
    return "date" if isinstance(trigger, DateTrigger) else "schedule"


def _checkpoint(
    session: Session, walk: _Walk, *, reach_back: timedelta, now: datetime
) -> TriggerCheckpoint:
    """The trigger's checkpoint, locked for this batch.

    The first one starts when the version that brought the trigger was published (less
    ``reach_back``), so a firing between the deploy and the scheduler's next look counts.
    """
    row = session.get(TriggerCheckpoint, (walk.journey_id, walk.name), with_for_update=True)
    if row is None:
        version = walk.published.compiled.spec.version
        published_at = session.scalar(
            select(JourneyVersion.published_at).where(
                JourneyVersion.journey_id == walk.journey_id, JourneyVersion.version == version
            )
        )
        start = min(published_at or now, now) - reach_back
        row = TriggerCheckpoint(
            journey_id=walk.journey_id,
            trigger=walk.name,
            version=version,
            checked_until=start,
            window_end=None,
            cursor=None,
            updated_at=now,
        )
        session.add(row)
    return row


def _date_batch(
    database: Database,
    walk: _Walk,
    trigger: DateTrigger,
    *,
    now: datetime,
    batch: int,
    total: EnrollResult,
) -> bool:
    """Enroll one batch of contacts whose date moment falls in the window; True when done."""
    anchor, spec = trigger.date, walk.published.compiled.spec
    reach_back = late_horizon(anchor) if anchor.late_entry == "enter_now" else timedelta(0)
    with database.unit_of_work() as session:
        checkpoint = _checkpoint(session, walk, reach_back=reach_back, now=now)
        if checkpoint.window_end is None:
            if now <= checkpoint.checked_until:
                return True
            checkpoint.window_end, checkpoint.cursor = now, 0
        start, end = checkpoint.checked_until, checkpoint.window_end
        low, high = date_window(anchor, start, end)
        near = _CONDITION.validate_python({"attr": anchor.attribute, "between": [low, high]})
        clause = condition_sql(near, now=now, dialect=session.get_bind().dialect.name)
        contacts = list(
            session.execute(
                select_documents()
                .where(clause, Contact.id > (checkpoint.cursor or 0))
                .order_by(Contact.id)
                .limit(batch)
            )
        )
        candidates = []
        for contact in contacts:
            document = _jsonable(contact_document(contact))
            moment = date_moment(anchor, document, spec.timezone)
            if moment is not None and start < moment <= end:
                entry = {
                    **document,
                    "trigger": {"date": anchor.attribute, "at": moment.isoformat()},
                }
                key = correlation_key(trigger.key, document)
                candidates.append((contact.id, key, entry))
        total.add(admit_and_insert(session, walk.published, candidates, now=now))
        done = len(contacts) < batch
        _advance(checkpoint, walk, cursor=contacts[-1].id if contacts else None, done=done, now=now)
        return done


def _schedule_batch(
    database: Database,
    walk: _Walk,
    trigger: ScheduleTrigger,
    *,
    now: datetime,
    batch: int,
    total: EnrollResult,
) -> bool:
    """Enroll one batch of the audience for the latest firing; True when done."""
    audience = walk.published.compiled.spec.audience
    with database.unit_of_work() as session:
        checkpoint = _checkpoint(session, walk, reach_back=timedelta(0), now=now)
        if checkpoint.window_end is None:
            fired = latest_fire(trigger.schedule, checkpoint.checked_until, now)
            if fired is None:
                checkpoint.checked_until, checkpoint.updated_at = now, now
                return True
            checkpoint.window_end, checkpoint.cursor = fired, 0
            log.info(
                "schedule fired",
                extra={"journey": walk.journey_id, "trigger": walk.name, "fired_at": fired},
            )
        fired_at = checkpoint.window_end
        query = select(Contact.id).where(Contact.id > (checkpoint.cursor or 0))
        if audience is not None:
            query = query.where(
                condition_sql(audience, now=now, dialect=session.get_bind().dialect.name)
            )
        ids = list(session.scalars(query.order_by(Contact.id).limit(batch)))
        entry = {"name": "schedule", "fired_at": fired_at.isoformat()}
        total.add(admit_and_insert(session, walk.published, [(i, "", entry) for i in ids], now=now))
        done = len(ids) < batch
        _advance(checkpoint, walk, cursor=ids[-1] if ids else None, done=done, now=now)
        return done


def _advance(
    checkpoint: TriggerCheckpoint, walk: _Walk, *, cursor: int | None, done: bool, now: datetime
) -> None:
    checkpoint.version, checkpoint.updated_at = walk.published.compiled.spec.version, now
    if done:
        assert checkpoint.window_end is not None
        checkpoint.checked_until, checkpoint.window_end, checkpoint.cursor = (
            checkpoint.window_end,
            None,
            None,
        )
    elif cursor is not None:
        checkpoint.cursor = cursor


def _jsonable(document: dict[str, Any]) -> dict[str, Any]:
    """Dates and times as ISO text, so the entry can be stored and compared like event data."""
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in document.items()}
