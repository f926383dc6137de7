"""Deploy test data: the shipped examples, a small journey to edit, and helpers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from engine.deploy.service import DeployPlan, DeployResult, apply_deploy, plan_deploy
from engine.journey import Catalog
from engine.store.db import Database
from engine.store.models import Contact, Enrollment, Journey, JourneyVersion
from tests.engine.journey.support import JOURNEYS, NOW

CATALOG = Catalog()
"""References to templates, segments and pools go unchecked: deploy tests are about versions,
and the examples' templates are the journey tests' business."""

EXAMPLES = [
    (f"journeys/{p.name}", p.read_text(encoding="utf-8")) for p in sorted(JOURNEYS.glob("*.yaml"))
]
EXAMPLE_IDS = sorted(
    line.removeprefix("id:").strip()
    for _, text in EXAMPLES
    for line in text.splitlines()
    if line.startswith("id:")
)

WELCOME_V1 = """\
dsl: journey/v1
id: welcome-series
name: Welcome series
version: 1
triggers:
  - event: signed_up
defaults: {send_email: {from: {name: Acme, email: hello@acme.io}}}
start: welcome
steps:
  welcome: {type: send_email, template: welcome, subject: Hi, next: wait_2d}
  wait_2d: {type: wait, duration: 2d, next: remind}
  remind: {type: send_email, template: reminder, subject: Hi again, next: done}
  done: {type: exit}
"""

# v2 drops ``remind`` for ``nudge``; the caller adds (or not) a migrate map.
WELCOME_V2 = """\
dsl: journey/v1
id: welcome-series
name: Welcome series
version: 2
triggers:
  - event: signed_up
defaults: {send_email: {from: {name: Acme, email: hello@acme.io}}}
start: welcome
steps:
  welcome: {type: send_email, template: welcome, subject: Hi, next: wait_2d}
  wait_2d: {type: wait, duration: 2d, next: nudge}
  nudge: {type: send_email, template: reminder, subject: Still there?, next: done}
  done: {type: exit}
"""


def plan(database: Database, files: list[tuple[str, str]]) -> DeployPlan:
    with database.sessions() as session:
        return plan_deploy(session, files, CATALOG)


def deploy(
    database: Database, files: list[tuple[str, str]], *, now: datetime = NOW
) -> DeployResult:
    """Plan and apply in one unit of work, as the faces do."""
    with database.unit_of_work() as session:
        return apply_deploy(
            session, plan_deploy(session, files, CATALOG), now=now, published_by="test"
        )


def row_counts(database: Database) -> tuple[int, int]:
    with database.sessions() as session:
        journeys = session.scalar(select(func.count()).select_from(Journey))
        versions = session.scalar(select(func.count()).select_from(JourneyVersion))
    return journeys or 0, versions or 0


def versions_of(database: Database, journey_id: str) -> list[int]:
    with database.sessions() as session:
        return list(
            session.scalars(
                select(JourneyVersion.version)
                .where(JourneyVersion.journey_id == journey_id)
                .order_by(JourneyVersion.version)
            )
        )


def enroll(
    database: Database,
    journey_id: str,
    version: int,
    placements: list[tuple[str, str]],
) -> list[int]:
    """Put one new contact per (step, status) into ``journey_id`` v``version``; return ids."""
    ids = []
    with database.unit_of_work() as session:
        for i, (step, status) in enumerate(placements):
            contact = Contact(
                email=f"c{i}-{journey_id}-{version}@example.com",
                attributes={},
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(contact)
            session.flush()
            waiting = status == "waiting"
            state: dict[str, Any] = {
                "journey_id": journey_id,
                "version": version,
                "step": step,
                "status": status,
                "wake_at": (NOW + timedelta(days=1)).isoformat() if waiting else None,
                "wait_started_at": NOW.isoformat() if waiting else None,
            }
            enrollment = Enrollment(
                journey_id=journey_id,
                version=version,
                contact_id=contact.id,
                step=step,
                status=status,
                wake_at=NOW + timedelta(days=1) if waiting else None,
                waiting_on={"step": step, "event": "x"} if waiting else None,
                entry={},
                state=state,
                entered_at=NOW,
                updated_at=NOW,
                exited_at=NOW if status == "exited" else None,
            )
            session.add(enrollment)
            session.flush()
            ids.append(enrollment.id)
    return ids
