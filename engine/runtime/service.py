"""The runtime's units of work, as the actors and the scheduler call them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from engine.runtime.advance import AdvanceResult, advance
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.routing import live_enrollments, route_events
from engine.scoring.service import recheck_contacts, score_events
from engine.segments.membership import refresh_contacts


@dataclass(slots=True)
class EventsResult:
    """What routing a batch of events did."""

    enrolled: list[int] = field(default_factory=list)
    refused: int = 0
    woken: int = 0
    outbox: list[int] = field(default_factory=list)


def process_events(
    session: Session,
    event_ids: Iterable[int],
    *,
    now: datetime,
    journeys: CompiledJourneys,
    message_domain: str,
) -> EventsResult:
    """Enroll contacts the events trigger and step them at once; offer each event to listeners."""
    event_ids = list(event_ids)
    # Scored first, so the segment re-check and the journeys below see the new scores.
    score_events(session, event_ids, now=now)
    routed = route_events(session, event_ids, now=now, journeys=journeys)
    result = EventsResult(enrolled=routed.enrolled, refused=len(routed.refused))
    steps = [
        advance(
            session,
            routed.enrolled,
            now=now,
            journeys=journeys,
            message_domain=message_domain,
            views=routed.views,
        )
    ]
    for event, ids in routed.woken:
        woken = advance(
            session, ids, now=now, journeys=journeys, message_domain=message_domain, event=event
        )
        result.woken += woken.stepped
        steps.append(woken)
    result.outbox = [i for step in steps for i in step.outbox]
    return result


def process_contact_changes(
    session: Session,
    contact_ids: Iterable[int],
    *,
    now: datetime,
    journeys: CompiledJourneys,
    message_domain: str,
) -> AdvanceResult:
    """Re-check segments and re-plan live enrollments: exit_when and goals apply at once."""
    contact_ids = list(contact_ids)
    recheck_contacts(session, contact_ids, now=now)  # grade and MQL follow attribute changes
    refresh_contacts(session, contact_ids, now=now)
    ids = live_enrollments(session, contact_ids)
    return advance(
        session, ids, now=now, journeys=journeys, message_domain=message_domain, recheck=True
    )
