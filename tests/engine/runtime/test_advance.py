"""Stepping enrollments through a published journey on the real database (both backends)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.contacts.service import erase_contact
from engine.journey import EnrollmentState, validate_journey
from engine.runtime.advance import advance
from engine.runtime.journeys import CompiledJourneys
from engine.store.models import (
    Contact,
    Enrollment,
    Journey,
    JourneyVersion,
    Message,
    OutboxMessage,
    ScoreChange,
    StepRun,
    TrackingEvent,
)

JOURNEYS = Path(__file__).parents[3] / "journeys"
# Tuesday 10:00 in New York: inside the B2B journey's weekday 08:00-18:00 send window.
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def publish(session, name: str) -> None:
    source = (JOURNEYS / f"{name}.yaml").read_text(encoding="utf-8")
    spec = validate_journey(source, name).spec
    assert spec is not None
    session.add(
        Journey(
            id=spec.id,
            name=spec.name,
            status="active",
            active_version=spec.version,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.add(
        JourneyVersion(
            journey_id=spec.id,
            version=spec.version,
            source=source,
            spec={},
            checksum="x",
            published_at=NOW,
            published_by="test",
        )
    )
    session.flush()


def enroll(session, journey: str, contact: Contact, entry: dict) -> Enrollment:
    source = session.scalar(
        select(JourneyVersion.source).where(JourneyVersion.journey_id == journey)
    )
    spec = validate_journey(source, journey).spec
    row = Enrollment(
        journey_id=journey,
        version=spec.version,
        contact_id=contact.id,
        key="",
        status="active",
        step=spec.start,
        wake_at=NOW,
        entry=entry,
        state={},
        steps_taken=0,
        entered_at=NOW,
        updated_at=NOW,
    )
    session.add(row)
    session.flush()
    state = EnrollmentState.enter(
        spec, enrollment_id=str(row.id), contact_id=str(contact.id), entered_at=NOW, entry=entry
    )
    row.state = state.to_json()
    return row


#: The entry of a demo request form: what starts the B2B nurture.
DEMO_REQUEST = {"name": "form_submitted", "properties": {"form_id": "demo-request"}}


def lead(
    session,
    email: str,
    family: str,
    given: str | None = None,
    *,
    company: str | None = None,
    zone: str | None = None,
    at: datetime = NOW,
) -> Contact:
    """Store a lead (family name first, as written in Japanese) and return it."""
    contact = Contact(
        email=email,
        first_name=given,
        last_name=family,
        attributes={"company": company} if company else {},
        timezone=zone,
        lifecycle_stage="lead",
        score=0,
        created_at=at,
        updated_at=at,
    )
    session.add(contact)
    session.flush()
    return contact


@pytest.fixture
def yamada(database):
    with database.unit_of_work() as session:
        publish(session, "b2b-lead-nurture")
        contact = lead(
            session,
            "taro.yamada@example.jp",
            "山田",
            "太郎",
            company="株式会社ノース",
            zone="America/New_York",
        )
        row = enroll(session, "b2b-lead-nurture", contact, DEMO_REQUEST)
        return contact.id, row.id


def step(database, ids, at):
    with database.unit_of_work() as session:
        return advance(
            session, ids, now=at, journeys=CompiledJourneys(), message_domain="mail.example.jp"
        )


def test_first_call_sends_scores_and_waits(database, yamada):
    contact_id, enrollment_id = yamada
    result = step(database, [enrollment_id], NOW)
    assert (result.stepped, result.exited, result.not_due) == (1, 0, 0)
    with database.sessions() as session:
        message = session.scalars(select(Message)).one()
        assert (message.template, message.status, message.step_id) == (
            "nurture-welcome",
            "queued",
            "welcome",
        )
        assert message.idempotency_key == f"{enrollment_id}:welcome:1"
        assert message.message_id.endswith("@mail.example.jp>")
        assert message.to_address == "taro.yamada@example.jp"
        assert session.get(Contact, contact_id).score == 10
        assert session.scalars(select(ScoreChange.reason)).all() == ["demo form"]
        enrollment = session.get(Enrollment, enrollment_id)
        assert (enrollment.step, enrollment.status) == ("wait_2d", "waiting")
        assert enrollment.wake_at == NOW + timedelta(days=2)
        outbox = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        # The score moved: segments and live enrollments re-check the contact.
        assert [(o.topic, o.payload) for o in outbox] == [
            ("contacts.changed", {"contact_ids": [contact_id]}),
            ("email.send", {"message_id": message.id}),
        ]
        assert result.outbox == [outbox[1].id]
        assert set(session.scalars(select(StepRun.step))) == {"welcome", "form_points", "wait_2d"}


def test_erasing_a_contact_deletes_its_step_runs_and_no_one_elses(database, yamada):
    contact_id, enrollment_id = yamada
    with database.unit_of_work() as session:
        suzuki = lead(
            session,
            "hanako.suzuki@example.jp",
            "鈴木",
            "花子",
            company="株式会社サウス",
            zone="Asia/Tokyo",
        )
        other = enroll(session, "b2b-lead-nurture", suzuki, DEMO_REQUEST).id
    step(database, [enrollment_id, other], NOW)
    with database.sessions() as session:
        assert set(session.scalars(select(StepRun.enrollment_id))) == {enrollment_id, other}
    with database.unit_of_work() as session:
        yamada_row = session.get(Contact, contact_id)
        erase_contact(session, yamada_row, now=NOW, requested_by="test")
    with database.sessions() as session:
        assert set(session.scalars(select(StepRun.enrollment_id))) == {other}
        assert session.scalar(select(func.count()).select_from(Enrollment)) == 1


def test_redelivery_and_early_wakes_do_nothing(database, yamada):
    _, enrollment_id = yamada
    step(database, [enrollment_id], NOW)
    again = step(database, [enrollment_id], NOW + timedelta(hours=1))
    assert (again.stepped, again.not_due, again.outbox) == (0, 1, [])
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1
        assert session.scalar(select(func.count()).select_from(ScoreChange)) == 1


@pytest.mark.parametrize(
    ("opened", "next_template"), [(False, "nurture-welcome-reminder"), (True, "case-study-fintech")]
)
def test_branch_follows_a_human_open(database, yamada, opened, next_template):
    _, enrollment_id = yamada
    step(database, [enrollment_id], NOW)
    if opened:
        with database.unit_of_work() as session:
            message = session.scalars(select(Message)).one()
            session.add(
                TrackingEvent(
                    kind="open",
                    message_id=message.id,
                    contact_id=message.contact_id,
                    classification="human",
                    occurred_at=NOW + timedelta(hours=3),
                )
            )
    result = step(database, [enrollment_id], NOW + timedelta(days=2, minutes=1))
    assert result.stepped == 1
    with database.sessions() as session:
        templates = session.scalars(select(Message.template).order_by(Message.id)).all()
        assert templates == ["nurture-welcome", next_template]
        assert session.get(Enrollment, enrollment_id).step == "wait_3d"


def test_machine_open_does_not_count_as_opened(database, yamada):
    _, enrollment_id = yamada
    step(database, [enrollment_id], NOW)
    with database.unit_of_work() as session:
        message = session.scalars(select(Message)).one()
        session.add(
            TrackingEvent(
                kind="open",
                message_id=message.id,
                contact_id=message.contact_id,
                classification="machine",
                occurred_at=NOW + timedelta(minutes=1),
            )
        )
    step(database, [enrollment_id], NOW + timedelta(days=2, minutes=1))
    with database.sessions() as session:
        assert (
            session.scalars(select(Message.template).order_by(Message.id)).all()[-1]
            == "nurture-welcome-reminder"
        )


def test_two_workers_racing_for_one_enrollment_act_once(database, yamada):
    _, enrollment_id = yamada
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            step(database, [enrollment_id], NOW)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1
        assert session.get(Contact, session.get(Enrollment, enrollment_id).contact_id).score == 10


def test_exit_when_ends_the_enrollment(database, yamada):
    contact_id, enrollment_id = yamada
    step(database, [enrollment_id], NOW)
    with database.unit_of_work() as session:
        session.get(Contact, contact_id).lifecycle_stage = "customer"
    result = step(database, [enrollment_id], NOW + timedelta(days=2, minutes=1))
    assert result.exited == 1
    with database.sessions() as session:
        enrollment = session.get(Enrollment, enrollment_id)
        assert enrollment.status == "exited"
        assert enrollment.exited_at == NOW + timedelta(days=2, minutes=1)
        assert enrollment.exit_reason
        assert session.scalar(select(func.count()).select_from(Message)) == 1
