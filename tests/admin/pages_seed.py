"""Data for the admin page tests: a deployed journey with runs, contacts, a timeline, handoffs.

Written straight to the tables in one unit of work (the pages read what the runtime writes;
running the runtime here would only slow the tests). ``mark`` is put into every free-text
field a visitor, a contact or a marketer controls, so the XSS test can plant payloads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.auth import users
from engine.clock import utcnow
from engine.deploy import service
from engine.store.db import Database
from engine.store.models import (
    Contact,
    ContactTag,
    Enrollment,
    Event,
    Handoff,
    ScoreChange,
    StageChange,
    StepRun,
    Suppression,
    TrackingEvent,
    User,
)

JOURNEY = """\
dsl: journey/v1
id: seminar-ja
name: {name}
version: 1
triggers:
  - event: seminar_attended
goals: [{{id: became_sql, when: {{attr: lifecycle_stage, eq: sql}}}}]
start: wait_1d
steps:
  wait_1d: {{type: wait, duration: 1d, next: hot}}
  hot:
    type: branch
    if: {{score: {{gte: 50}}}}
    then: tag_hot
    else: done
  tag_hot: {{type: tag, add: [hot], next: done}}
  done: {{type: exit, reason: finished}}
"""


@dataclass(frozen=True, slots=True)
class Seeded:
    """Ids the tests look for."""

    journey_id: str
    taro: str
    hanako: str
    mine: int
    others: int


def seed(database: Database, *, rep: str, other_rep: str, mark: str = "") -> Seeded:
    """Deploy a journey, enroll two contacts, give them a timeline and a handoff each."""
    now = utcnow().replace(microsecond=0)
    with database.unit_of_work() as session:
        plan = service.plan_deploy(
            session,
            [
                (
                    "seminar-ja.yaml",
                    JOURNEY.format(
                        name=json.dumps(f"セミナー後フォロー {mark}", ensure_ascii=False)
                    ),
                )
            ],
        )
        assert plan.ok, plan.errors
        service.apply_deploy(session, plan, now=now, published_by="test")
        rep_id = session.scalar(select(User.id).where(User.email == rep))
        other_id = session.scalar(select(User.id).where(User.email == other_rep))
        taro = _contact(session, "taro@example.jp", "太郎", f"山田{mark}", rep_id, now, mark)
        hanako = _contact(session, "hanako@example.jp", "花子", "佐藤", other_id, now, mark)
        for contact, step, status, reason in (
            (taro, "wait_1d", "waiting", None),
            (hanako, "done", "exited", "finished"),
        ):
            enrollment = Enrollment(
                journey_id="seminar-ja",
                version=1,
                contact_id=contact.id,
                status=status,
                step=step,
                entry={"name": "seminar_attended"},
                state={},
                entered_at=now - timedelta(hours=4),
                updated_at=now,
                exited_at=now if status == "exited" else None,
                exit_reason=reason,
            )
            session.add(enrollment)
            session.flush()
            steps = ["wait_1d"] if step == "wait_1d" else ["wait_1d", "hot", "done"]
            session.add_all(
                StepRun(
                    enrollment_id=enrollment.id,
                    step=s,
                    attempt=1,
                    status="done",
                    started_at=now,
                )
                for s in steps
            )
        handoffs = [
            Handoff(
                contact_id=contact.id,
                assignee_id=assignee,
                pool="ae-japan",
                status="assigned",
                reason=f"round robin {mark}",
                brief={},
                created_at=now,
                sla_due_at=now + timedelta(days=1),
            )
            for contact, assignee in ((taro, rep_id), (hanako, other_id))
        ]
        session.add_all(handoffs)
        _timeline(session, taro, now, mark)
        session.flush()
        return Seeded("seminar-ja", taro.email, hanako.email, handoffs[0].id, handoffs[1].id)


def _contact(
    session: Session,
    email: str,
    given: str,
    family: str,
    owner: int | None,
    now: datetime,
    mark: str,
) -> Contact:
    contact = Contact(
        email=email,
        first_name=given,
        last_name=family,
        attributes={"company": f"株式会社ノースウィンド{mark}", "title": mark or "部長"},
        timezone="Asia/Tokyo",
        locale="ja",
        lifecycle_stage="mql",
        score=72,
        grade="A",
        owner_id=owner,
        created_at=now,
        updated_at=now,
    )
    session.add(contact)
    session.flush()
    return contact


def _timeline(session: Session, contact: Contact, now: datetime, mark: str) -> None:
    earlier = now - timedelta(hours=3)
    rows = [
        ContactTag(contact_id=contact.id, tag=f"seminar{mark}", added_at=earlier),
        Event(
            contact_id=contact.id,
            type="page_view",
            properties={"path": f"/pricing{mark}", "title": f"料金 {mark}"},
            occurred_at=earlier,
            received_at=earlier,
            source="web",
        ),
        TrackingEvent(
            kind="click",
            contact_id=contact.id,
            classification="human",
            reason=f"looks human {mark}",
            url=f"javascript:alert(1)//{mark}",
            user_agent=f"Mozilla/5.0 {mark}",
            occurred_at=earlier + timedelta(minutes=5),
        ),
        ScoreChange(
            contact_id=contact.id,
            delta=20,
            score_after=72,
            reason=f"料金ページを閲覧 {mark}",
            rule="pricing",
            occurred_at=earlier + timedelta(minutes=10),
        ),
        StageChange(
            contact_id=contact.id,
            from_stage="lead",
            to_stage="mql",
            reason=f"score over 50 {mark}",
            occurred_at=earlier + timedelta(minutes=11),
        ),
        Suppression(
            email=contact.email,
            scope="newsletter",
            reason="unsubscribed",
            source=f"link {mark}",
            created_at=earlier,
        ),
    ]
    session.add_all(rows)


@pytest.fixture(autouse=True)
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash test users' passwords with argon2's cheapest settings (verify reads them back)."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
