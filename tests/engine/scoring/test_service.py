"""Scoring stored events through the runtime: points with reasons, grades, MQL, decay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from engine.events.schemas import EventIn
from engine.events.service import ingest_events
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.service import process_contact_changes, process_events
from engine.scoring.config import scoring_file, store_scoring
from engine.scoring.decay import decayed
from engine.scoring.fade import decay_scores
from engine.scoring.rescore import rescore
from engine.scoring.spec import load_scoring
from engine.store.db import Database
from engine.store.models import Contact, Handoff, OutboxMessage, ScoreChange, StageChange

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
EXAMPLE = scoring_file(Path(__file__).parents[3] / "journeys")
FIT = {"industry": "ソフトウェア", "employees": 120, "title": "経理部長", "country": "JP"}


def post(database: Database, email: str, *events: tuple[str, dict], at: datetime = NOW) -> None:
    """Ingest events and route them as the ``runtime.route_events`` actor does."""
    with database.unit_of_work() as session:
        result = ingest_events(
            session,
            [EventIn(type=t, email=email, properties=p, occurred_at=at) for t, p in events],
            now=at,
        )
        ids = [i for i in result.event_ids if i is not None]
        process_events(
            session, ids, now=at, journeys=CompiledJourneys(), message_domain="example.jp"
        )


def setup(database: Database, email: str = "taro.yamada@example.jp") -> None:
    with database.unit_of_work() as session:
        store_scoring(session, EXAMPLE.read_text(encoding="utf-8"), now=NOW)
    post(database, email, ("identified", {}))
    with database.unit_of_work() as session:
        session.execute(update(Contact).values(attributes=FIT, first_name="太郎", last_name="山田"))


def test_events_score_once_each_with_reasons_and_qualify_one_mql(database: Database) -> None:
    setup(database)
    post(
        database,
        "taro.yamada@example.jp",
        *[("page_view", {"path": "/pricing"})] * 4,  # capped at 3 a day
        ("webinar_attended", {"title": "経理DXセミナー"}),
    )
    with database.unit_of_work() as session:  # a redelivered route message scores nothing
        process_events(
            session,
            list(
                session.scalars(
                    select(ScoreChange.event_id).where(ScoreChange.event_id.is_not(None))
                )
            ),
            now=NOW,
            journeys=CompiledJourneys(),
            message_domain="example.jp",
        )
    with database.sessions() as session:
        contact = session.scalars(select(Contact)).one()
        reasons = session.execute(
            select(ScoreChange.rule, ScoreChange.delta, ScoreChange.score_after, ScoreChange.reason)
            .where(ScoreChange.model == "default")
            .order_by(ScoreChange.id)
        ).all()
        assert (contact.score, contact.grade) == (50, "A")
        assert [r[:3] for r in reasons] == [
            ("pricing_page", 10, 10),
            ("pricing_page", 10, 20),
            ("pricing_page", 10, 30),
            ("webinar", 20, 50),
        ]
        assert reasons[0][3] == "料金ページを閲覧"
        assert contact.lifecycle_stage == "subscriber"
        changed = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "contacts.changed")
        ).all()
        assert {"contact_ids": [contact.id]} in changed  # journeys and segments re-check

    post(database, "taro.yamada@example.jp", ("form_submitted", {"form": "demo-request"}))
    post(database, "taro.yamada@example.jp", ("form_submitted", {"form": "contact-sales"}))
    with database.sessions() as session:
        contact = session.scalars(select(Contact)).one()
        (handoff,) = session.scalars(select(Handoff)).all()
        (stage,) = session.scalars(select(StageChange).where(StageChange.to_stage == "mql"))
        assert (contact.score, contact.lifecycle_stage) == (110, "mql")
        assert (stage.from_stage, stage.reason) == (
            "subscriber",
            "MQL rule: score ≥ 60 and grade ≥ B",
        )
        assert (handoff.pool, handoff.status) == ("inside-sales", "pending")
        assert handoff.brief["qualified_by"] == "MQL rule: score ≥ 60 and grade ≥ B"
        assert handoff.brief["score_reasons"][0]["reason"] == "デモ依頼フォーム送信"
        assert handoff.brief["pages_viewed"][0]["path"] == "/pricing"


def test_a_competitor_domain_and_a_poor_fit_never_qualify(database: Database) -> None:
    setup(database, "spy@rival-cloud.co.jp")
    post(database, "spy@rival-cloud.co.jp", *[("form_submitted", {"form": "demo-request"})] * 3)
    with database.sessions() as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.score, contact.lifecycle_stage) == (3 * (30 - 100), "subscriber")
        assert session.scalars(select(Handoff)).all() == []


def test_decay_fades_inactive_scores_once_per_period_like_the_pure_rule(database: Database) -> None:
    spec = load_scoring(EXAMPLE.read_text(encoding="utf-8")).spec
    assert spec is not None
    model = spec.models["default"]
    assert model.decay is not None
    scores = [0, 1, 7, 59, 100, 12_345, -40]
    with database.unit_of_work() as session:
        for n, score in enumerate(scores):
            session.add(
                Contact(
                    email=f"c{n}@example.jp",
                    attributes={},
                    score=score,
                    created_at=NOW,
                    updated_at=NOW,
                    last_seen_at=NOW - timedelta(days=30 if n else 1),
                )
            )
        session.add(
            Contact(
                email="active@example.jp",
                attributes={},
                score=80,
                created_at=NOW,
                updated_at=NOW,
                last_seen_at=NOW,
            )
        )
    with database.unit_of_work() as session:
        assert decay_scores(session, model, now=NOW) == 0  # the first period starts now
    later = NOW + timedelta(days=1)
    with database.unit_of_work() as session:
        moved = decay_scores(session, model, now=later)
        assert decay_scores(session, model, now=later) == 0  # once per period
    with database.sessions() as session:
        found = dict(session.execute(select(Contact.email, Contact.score)).all())
        changes = session.execute(select(ScoreChange.delta, ScoreChange.score_after)).all()
    expected = {
        f"c{n}@example.jp": decayed(s, model.decay) if n else s for n, s in enumerate(scores)
    }
    assert found == expected | {"active@example.jp": 80}
    assert moved == len(changes) == 5  # all but the recently seen and the negative
    assert all(delta < 0 and after >= 0 for delta, after in changes)


def test_an_attribute_change_regrades_and_can_qualify_without_an_event(database: Database) -> None:
    setup(database)
    with database.unit_of_work() as session:
        session.execute(update(Contact).values(attributes={"industry": "飲食"}, score=80))
        contact_id = session.scalars(select(Contact.id)).one()
        process_contact_changes(
            session, [contact_id], now=NOW, journeys=CompiledJourneys(), message_domain="example.jp"
        )
    with database.sessions() as session:
        assert session.scalars(select(Contact.grade)).one() == "D"
        assert session.scalars(select(Handoff)).all() == []
    with database.unit_of_work() as session:
        session.execute(update(Contact).values(attributes=FIT))
        process_contact_changes(
            session, [contact_id], now=NOW, journeys=CompiledJourneys(), message_domain="example.jp"
        )
    with database.sessions() as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.grade, contact.lifecycle_stage) == ("A", "mql")
        assert len(session.scalars(select(Handoff)).all()) == 1


def test_rescore_replays_events_under_new_rules_and_keeps_journey_points(
    database: Database,
) -> None:
    setup(database)
    post(database, "taro.yamada@example.jp", *[("page_view", {"path": "/pricing"})] * 2)
    with database.unit_of_work() as session:
        contact_id = session.scalars(select(Contact.id)).one()
        session.add(  # a journey's score step: not an event's, so a rescore keeps it
            ScoreChange(
                contact_id=contact_id,
                model="default",
                delta=7,
                score_after=27,
                reason="journey step bonus",
                rule="bonus",
                occurred_at=NOW,
            )
        )
        session.execute(update(Contact).values(score=27))
    cheaper = EXAMPLE.read_text(encoding="utf-8").replace("points: 10\n", "points: 4\n", 1)
    spec = load_scoring(cheaper).spec
    assert spec is not None
    with database.unit_of_work() as session:
        assert rescore(session, spec, now=NOW) == 2
        assert rescore(session, spec, now=NOW, model="default") == 2  # idempotent
    with database.sessions() as session:
        assert session.scalars(select(Contact.score)).one() == 7 + 2 * 4
        rules = session.scalars(select(ScoreChange.rule).order_by(ScoreChange.id)).all()
    assert sorted(rules) == ["bonus", "pricing_page", "pricing_page"]
