"""Date and schedule triggers on the real database: each moment fires once, resumably."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from engine.contacts.service import add_tags
from engine.runtime.advance import advance
from engine.runtime.enroll import EnrollResult
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.routing import active_versions
from engine.runtime.timed_triggers import _date_batch, _Walk, run_timed_triggers
from engine.store.models import Contact, Enrollment, TriggerCheckpoint
from tests.publishing import publish_source

START = datetime(2026, 12, 1, tzinfo=UTC)

CONTRACT_END = """\
dsl: journey/v1
id: contract-end
name: 契約満了30日前のご案内
version: 1
triggers:
  - date: {attribute: contract.end_date, offset: -30d, at: "09:00", late_entry: LATE}
    key: contract.end_date
entry: {reentry: always, concurrent: per_key}
timezone: {attribute: timezone, fallback: Asia/Tokyo}
start: mark
steps:
  mark:
    type: tag
    add: [renewal-notice]
    next: done
  done:
    type: exit
"""

NEWSLETTER = """\
dsl: journey/v1
id: weekly-news
name: 週刊ニュースレター
version: 1
triggers:
  - schedule: {cron: "0 9 * * MON", timezone: Asia/Tokyo}
audience: {tag: newsletter}
entry: {reentry: always}
start: mark
steps:
  mark:
    type: tag
    add: [newsletter-sent]
    next: done
  done:
    type: exit
"""


def contact(session, email: str, **fields) -> int:
    attributes = fields.pop("attributes", {})
    row = Contact(email=email, attributes=attributes, created_at=START, updated_at=START, **fields)
    session.add(row)
    session.flush()
    return row.id


def enrollments(database, journey: str) -> list[tuple[int, str, dict]]:
    with database.unit_of_work() as session:
        rows = session.execute(
            select(Enrollment.contact_id, Enrollment.key, Enrollment.entry)
            .where(Enrollment.journey_id == journey)
            .order_by(Enrollment.id)
        )
        return [(c, k, e) for c, k, e in rows]


def people(database, late: str = "skip", published: datetime = START) -> dict[str, int]:
    with database.unit_of_work() as session:
        publish_source(session, CONTRACT_END.replace("LATE", late), now=published)
        return {
            # 09:00 in Tokyo on 2026-12-11 is 00:00 UTC.
            "tokyo": contact(
                session,
                "hanako.suzuki@example.jp",
                last_name="鈴木",
                first_name="花子",
                timezone="Asia/Tokyo",
                attributes={"contract": {"end_date": "2027-01-10", "plan": "プレミアム"}},
            ),
            # 09:00 in New York on 2026-12-11 is 14:00 UTC.
            "new_york": contact(
                session,
                "ichiro.tanaka@example.com",
                last_name="田中",
                first_name="一郎",
                timezone="America/New_York",
                attributes={"contract": {"end_date": "2027-01-10"}},
            ),
            "later": contact(
                session,
                "jiro.sato@example.jp",
                timezone="Asia/Tokyo",
                attributes={"contract": {"end_date": "2027-03-01"}},
            ),
            "no_date": contact(session, "kenta.ito@example.jp", attributes={"contract": {}}),
            "not_a_date": contact(
                session, "yui.kato@example.jp", attributes={"contract": {"end_date": "未定"}}
            ),
        }


def run(database, journeys, now: datetime, **kwargs) -> int:
    return run_timed_triggers(database, now=now, journeys=journeys, **kwargs).enrolled


def test_a_date_trigger_fires_at_each_contacts_local_time_once(database) -> None:
    who, journeys = people(database), CompiledJourneys()

    first = run(database, journeys, START)  # published now: nothing is due yet
    at_tokyo_nine = run(database, journeys, datetime(2026, 12, 11, 0, 0, tzinfo=UTC))
    before_new_york = run(database, journeys, datetime(2026, 12, 11, 13, 59, tzinfo=UTC))
    at_new_york_nine = run(database, journeys, datetime(2026, 12, 11, 14, 0, tzinfo=UTC))
    again = run(database, journeys, datetime(2026, 12, 11, 14, 0, 30, tzinfo=UTC))

    assert (first, at_tokyo_nine, before_new_york, at_new_york_nine, again) == (0, 1, 0, 1, 0)
    rows = enrollments(database, "contract-end")
    assert [(c, k) for c, k, _ in rows] == [
        (who["tokyo"], '["2027-01-10"]'),
        (who["new_york"], '["2027-01-10"]'),
    ]
    assert rows[0][2]["contract"] == {"end_date": "2027-01-10", "plan": "プレミアム"}
    assert rows[0][2]["last_name"] == "鈴木"


def test_a_renewed_contract_fires_again_for_its_new_term(database) -> None:
    who, journeys = people(database), CompiledJourneys()
    run(database, journeys, START)
    run(database, journeys, datetime(2026, 12, 11, 0, 0, tzinfo=UTC))
    with database.unit_of_work() as session:
        row = session.get(Contact, who["tokyo"])
        row.attributes = {"contract": {"end_date": "2028-01-10"}}

    run(database, journeys, datetime(2027, 12, 11, 0, 0, tzinfo=UTC))

    keys = [k for c, k, _ in enrollments(database, "contract-end") if c == who["tokyo"]]
    assert keys == ['["2027-01-10"]', '["2028-01-10"]']


def test_late_entry_enter_now_admits_moments_passed_before_publishing(database) -> None:
    published = datetime(2026, 12, 20, tzinfo=UTC)
    who, journeys = people(database, late="enter_now", published=published), CompiledJourneys()

    entered = run(database, journeys, published + timedelta(seconds=30))

    assert entered == 2
    assert {c for c, _, _ in enrollments(database, "contract-end")} == {
        who["tokyo"],
        who["new_york"],
    }


def test_late_entry_skip_leaves_passed_moments_alone(database) -> None:
    published = datetime(2026, 12, 20, tzinfo=UTC)
    people(database, late="skip", published=published)

    entered = run(database, CompiledJourneys(), published + timedelta(seconds=30))

    assert entered == 0


def test_a_moment_between_deploy_and_the_first_look_still_fires(database) -> None:
    # Published at 08:59:50 Tokyo time; the scheduler first looks at 09:00:20.
    published = datetime(2026, 12, 10, 23, 59, 50, tzinfo=UTC)
    who = people(database, late="skip", published=published)

    entered = run(database, CompiledJourneys(), datetime(2026, 12, 11, 0, 0, 20, tzinfo=UTC))

    assert entered == 1
    assert [c for c, _, _ in enrollments(database, "contract-end")] == [who["tokyo"]]


def test_a_walk_interrupted_between_batches_resumes_without_repeats(database) -> None:
    journeys = CompiledJourneys()
    with database.unit_of_work() as session:
        publish_source(session, CONTRACT_END.replace("LATE", "skip"), now=START)
        for n in range(7):
            contact(
                session,
                f"member{n}@example.jp",
                timezone="Asia/Tokyo",
                attributes={"contract": {"end_date": "2027-01-10"}},
            )
    run(database, journeys, START)
    due = datetime(2026, 12, 11, 0, 0, tzinfo=UTC)
    with database.unit_of_work() as session:
        published = active_versions(session, journeys)["contract-end"]
    walk = _Walk("contract-end", "date:0", published)
    trigger = published.compiled.spec.triggers[0]
    # Two batches of three commit, then the process "dies" before finishing the window.
    partial = EnrollResult()
    _date_batch(database, walk, trigger, now=due, batch=3, total=partial)
    _date_batch(database, walk, trigger, now=due, batch=3, total=partial)
    with database.unit_of_work() as session:
        checkpoint = session.get(TriggerCheckpoint, ("contract-end", "date:0"))
        mid_walk = (checkpoint.window_end, checkpoint.cursor is not None)

    rest = run(database, journeys, due + timedelta(minutes=5), batch=3)

    assert partial.enrolled == 6
    assert mid_walk == (due, True)
    assert rest == 1
    assert len(enrollments(database, "contract-end")) == 7


def test_a_schedule_enrolls_its_audience_once_per_firing(database) -> None:
    journeys = CompiledJourneys()
    with database.unit_of_work() as session:
        publish_source(session, NEWSLETTER, now=START)
        readers = [
            contact(session, f"reader{n}@example.jp", attributes={}, last_name="読者")
            for n in range(3)
        ]
        other = contact(session, "other@example.jp", attributes={})
        add_tags(session, {(r, "newsletter") for r in readers}, now=START)
    sunday = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    monday_nine_tokyo = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)

    first = run(database, journeys, sunday)
    fired = run(database, journeys, monday_nine_tokyo + timedelta(seconds=20))
    again = run(database, journeys, monday_nine_tokyo + timedelta(minutes=1))
    rows = enrollments(database, "weekly-news")
    with database.unit_of_work() as session:
        ids = list(session.scalars(select(Enrollment.id)))
        advance(
            session,
            ids,
            now=monday_nine_tokyo + timedelta(minutes=2),
            journeys=journeys,
            message_domain="example.jp",
        )
    # Missed Mondays (the scheduler was down for two weeks) fire once, not twice.
    late = run(database, journeys, monday_nine_tokyo + timedelta(days=14, hours=3))

    assert (first, fired, again, late) == (0, 3, 0, 3)
    assert {c for c, _, _ in rows} == set(readers)
    assert other not in {c for c, _, _ in rows}
    assert rows[0][2] == {"name": "schedule", "fired_at": "2026-11-30T00:00:00+00:00"}
