"""Simulate a journey for a stored contact or a contact given as JSON: "what would happen?"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.contacts.fields import normalize_email
from engine.errors import FieldProblem, InvalidInput, NotFound
from engine.journey import JourneySpec, validate_journey
from engine.journey.simulation import (
    Simulation,
    contact_from_json,
    default_start,
    event_from_json,
    parse_instant,
    parse_until,
    simulate_journey,
)
from engine.runtime.views import load_views
from engine.store.models import Contact, Journey, JourneyVersion


def journey_spec(
    session: Session, *, source: str | None, journey_id: str | None, version: int | None
) -> JourneySpec:
    """The spec to simulate: YAML being edited, or a stored version (default: the active one)."""
    if source is not None:
        report = validate_journey(source, "journey.yaml")
        if report.spec is None:
            raise InvalidInput(
                "the journey has errors",
                problems=[FieldProblem(d.path, d.format()) for d in report.errors],
            )
        return report.spec
    if journey_id is None:
        raise InvalidInput(
            "nothing to simulate", problems=[FieldProblem("source", "give source or journey_id")]
        )
    if version is None:
        version = session.scalar(select(Journey.active_version).where(Journey.id == journey_id))
    stored = session.scalar(
        select(JourneyVersion.source).where(
            JourneyVersion.journey_id == journey_id, JourneyVersion.version == version
        )
    )
    if stored is None:
        raise NotFound(f"journey {journey_id} has no version {version}")
    spec = validate_journey(stored, journey_id).spec
    if spec is None:
        raise NotFound(f"journey {journey_id} v{version} no longer validates")
    return spec.model_copy(update={"version": version})


def simulate_for(
    session: Session,
    spec: JourneySpec,
    *,
    email: str | None,
    contact: Mapping[str, Any] | None,
    events: Sequence[Mapping[str, Any]],
    start: str | None,
    until: str | None,
    explain: bool,
    now: datetime,
) -> Simulation:
    """Run the simulator for the stored contact with ``email`` or the ``contact`` given."""
    try:
        if email is not None:
            try:
                email = normalize_email(email)
            except ValueError as bad:
                raise InvalidInput(
                    "bad email", problems=[FieldProblem("email", str(bad))]
                ) from None
            found = session.scalar(select(Contact.id).where(Contact.email == email))
            if found is None:
                raise NotFound(f"no contact with email {email!r}")
            view = load_views(session, [found], now=now)[found]
            contact_id = str(found)
        elif contact is not None:
            view, contact_id = contact_from_json(contact)
        else:
            raise InvalidInput(
                "no contact", problems=[FieldProblem("contact", "give contact or email")]
            )
        records = [event_from_json(e, f"events[{i}]") for i, e in enumerate(events)]
        begin = parse_instant(start, "start") if start else default_start(spec, view, records)
        end = parse_until(until, begin)
    except InvalidInput as error:
        if error.problems:
            raise
        raise InvalidInput(error.message, problems=[FieldProblem("body", error.message)]) from None
    return simulate_journey(spec, view, records, begin, end, contact_id=contact_id, explain=explain)
