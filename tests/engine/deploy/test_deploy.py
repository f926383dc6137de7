"""Versioned deploy against each backend: what is stored, what is not, and where contacts go."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from engine.deploy.service import (
    InvalidJourneys,
    apply_deploy,
    archive,
    get_journey,
    get_version,
    list_journeys,
    migrate_enrollments,
    pause,
    plan_deploy,
    resume,
)
from engine.errors import Conflict, NotFound
from engine.journey import JourneySpec, validate_journey
from engine.store.models import Enrollment, Journey
from tests.engine.deploy.support import (
    CATALOG,
    EXAMPLE_IDS,
    EXAMPLES,
    WELCOME_V1,
    WELCOME_V2,
    deploy,
    enroll,
    plan,
    row_counts,
    versions_of,
)
from tests.engine.journey.support import NOW

LATER = NOW + timedelta(days=3)
MIGRATE = "migrate:\n  remind: nudge\n"


@contextmanager
def count_updates(database) -> Iterator[list[str]]:
    """Collect every UPDATE of the enrollments table sent to the database."""
    updates: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("UPDATE ENROLLMENTS"):
            updates.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield updates
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


def test_deploying_the_examples_stores_and_activates_version_1_of_each(database):
    result = deploy(database, EXAMPLES)

    assert [j.kind for j in result.journeys] == ["new"] * len(EXAMPLES)
    assert row_counts(database) == (len(EXAMPLES), len(EXAMPLES))
    with database.sessions() as session:
        listed = list_journeys(session)
    assert [j.id for j in listed] == EXAMPLE_IDS
    assert len(EXAMPLE_IDS) >= 4
    assert {(j.status, j.active_version, j.versions, j.deployed_at) for j in listed} == {
        ("active", 1, 1, NOW)
    }
    ja = next(j for j in listed if j.id == "seminar-followup-ja")
    assert ja.name == "セミナー参加者フォローアップ（マーケティングオートメーション入門）"


def test_a_stored_version_keeps_the_source_its_hash_and_a_spec_that_loads_back(database):
    path, text = EXAMPLES[0]
    deploy(database, [(path, text)])
    spec = validate_journey(text, path, CATALOG).spec
    assert spec is not None

    with database.sessions() as session:
        stored = get_version(session, spec.id, 1)

    assert stored.source == text
    assert stored.checksum == hashlib.sha256(text.encode()).hexdigest()
    assert stored.published_by == "test"
    assert JourneySpec.model_validate(stored.spec) == spec


def test_redeploying_unchanged_files_stores_no_new_version(database):
    deploy(database, EXAMPLES)
    before = row_counts(database)

    again = deploy(database, EXAMPLES, now=LATER)

    assert [j.kind for j in again.journeys] == ["unchanged"] * len(EXAMPLES)
    assert again.deployed == ()
    assert [j.version for j in again.journeys] == [1] * len(EXAMPLES)
    assert row_counts(database) == before
    with database.sessions() as session:
        assert {j.deployed_at for j in list_journeys(session)} == {NOW}


def test_changing_one_step_gives_only_that_journey_a_version_2_with_a_diff(database):
    deploy(database, EXAMPLES)
    path, text = next((p, t) for p, t in EXAMPLES if "abandoned-cart" in p)
    changed = text.replace("version: 1", "version: 2", 1).replace(
        "subject:", "subject: '[Last call]' #", 1
    )
    assert changed != text
    files = [(p, changed if p == path else t) for p, t in EXAMPLES]

    planned = plan(database, files)
    result = deploy(database, files, now=LATER)

    cart = next(j for j in planned.journeys if j.journey_id == "abandoned-cart")
    assert (cart.kind, cart.active_version, cart.version) == ("changed", 1, 2)
    assert cart.diff is not None
    assert [(c.step, c.fields) for c in cart.diff.changed] == [
        (cart.diff.changed[0].step, ("subject",))
    ]
    assert (cart.diff.added, cart.diff.removed, cart.diff.settings) == ((), (), ())
    assert cart.diff.summary() == "~1 step"
    assert [j.kind for j in planned.journeys].count("unchanged") == len(EXAMPLES) - 1
    assert [(j.journey_id, j.previous_version, j.version) for j in result.deployed] == [
        ("abandoned-cart", 1, 2)
    ]
    assert versions_of(database, "abandoned-cart") == [1, 2]
    assert versions_of(database, "b2b-lead-nurture") == [1]
    with database.sessions() as session:
        detail = get_journey(session, "abandoned-cart")
    assert detail.summary.active_version == 2
    assert detail.summary.deployed_at == LATER
    assert [v.version for v in detail.versions] == [1, 2]
    assert detail.active_spec is not None
    assert detail.active_spec["version"] == 2


def test_a_change_that_keeps_the_files_version_number_is_stored_with_a_warning(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    edited = WELCOME_V1.replace("subject: Hi,", "subject: Hello,")

    planned = plan(database, [("w.yaml", edited)])

    (journey,) = planned.journeys
    assert planned.ok
    assert journey.version == 2
    assert [d.format() for d in journey.diagnostics] == [
        "w.yaml:4:10: warning[W501] version: the file says version 1 but version 1 is stored; "
        "this deploy stores it as version 2 (bump 'version' to match)"
    ]


def test_a_comment_only_change_is_a_new_version_without_structural_change(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    edited = WELCOME_V1.replace("version: 1", "version: 2") + "# reviewed by legal\n"

    (journey,) = plan(database, [("w.yaml", edited)]).journeys

    assert journey.kind == "changed"
    assert journey.diagnostics == ()
    assert journey.diff is not None
    assert journey.diff.empty
    assert journey.diff.summary() == "no structural change (comments or layout)"


def test_one_broken_file_stores_nothing_at_all(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    before = row_counts(database)
    broken = (
        "journeys/壊れた.yaml",
        WELCOME_V1.replace("welcome-series", "broken-one").replace("next: done", "next: donee"),
    )
    files = [*EXAMPLES, ("w.yaml", WELCOME_V1.replace("subject: Hi,", "subject: Yo,")), broken]

    with database.sessions() as session:
        planned = plan_deploy(session, files, CATALOG)
        with pytest.raises(InvalidJourneys) as raised:
            apply_deploy(session, planned, now=LATER, published_by="test")
        session.commit()

    assert not planned.ok
    assert [d.format() for d in planned.errors] == [
        "journeys/壊れた.yaml:12:75: error[E201] steps.remind.next: unknown step 'donee' "
        "(did you mean 'done'?)"
    ]
    assert raised.value.message == "1 error in 1 file; nothing was deployed"
    assert raised.value.problems[0].field == "journeys/壊れた.yaml:12:75"
    assert row_counts(database) == before


def test_removing_a_step_contacts_wait_on_without_migrate_is_an_e501_error(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    enroll(database, "welcome-series", 1, [("remind", "waiting")])

    planned = plan(database, [("w.yaml", WELCOME_V2)])

    assert [(d.code, d.path) for d in planned.errors] == [("E501", "steps")]
    assert "step 'remind' of version 1 is gone" in planned.errors[0].message
    assert (planned.errors[0].line, planned.errors[0].col) == (9, 1)


def test_a_migrate_map_moves_live_enrollments_in_one_update_per_entry(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    waiting, active, exited, elsewhere = enroll(
        database,
        "welcome-series",
        1,
        [("remind", "waiting"), ("remind", "active"), ("remind", "exited"), ("wait_2d", "waiting")],
    )

    with count_updates(database) as updates:
        result = deploy(database, [("w.yaml", WELCOME_V2 + MIGRATE)], now=LATER)

    assert len(updates) == 1
    assert [(j.kind, j.version, j.migrated) for j in result.journeys] == [("changed", 2, 2)]
    with database.sessions() as session:
        rows = {e.id: e for e in session.scalars(select(Enrollment))}
    for moved in (waiting, active):
        row = rows[moved]
        assert (row.version, row.step, row.status) == (2, "nudge", "active")
        assert (row.wake_at, row.waiting_on, row.updated_at) == (LATER, None, LATER)
        assert row.state["version"] == 2
        assert row.state["step"] == "nudge"
        assert row.state["status"] == "active"
        assert "wake_at" not in row.state
        assert row.state["journey_id"] == "welcome-series"
    assert (rows[exited].version, rows[exited].step) == (1, "remind")
    assert (rows[elsewhere].version, rows[elsewhere].step, rows[elsewhere].status) == (
        1,
        "wait_2d",
        "waiting",
    )
    with database.sessions() as session:
        detail = get_journey(session, "welcome-series")
    assert [(v.version, v.live_enrollments) for v in detail.versions] == [(1, 1), (2, 2)]


def test_each_migrate_entry_is_one_update_whatever_the_number_of_contacts(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    enroll(database, "welcome-series", 1, [("remind", "waiting")] * 5 + [("welcome", "active")])
    two_entries = WELCOME_V2 + "migrate:\n  remind: nudge\n  welcome: welcome\n"

    with count_updates(database) as updates:
        result = deploy(database, [("w.yaml", two_entries)], now=LATER)

    assert len(updates) == 2
    assert result.journeys[0].migrated == 6
    with database.sessions() as session:
        steps = list(session.scalars(select(Enrollment.step).where(Enrollment.version == 2)))
    assert sorted(steps) == ["nudge"] * 5 + ["welcome"]


def test_migrate_enrollments_to_an_unknown_version_is_not_found(database):
    deploy(database, [("w.yaml", WELCOME_V1)])

    with database.sessions() as session, pytest.raises(NotFound) as raised:
        migrate_enrollments(session, "welcome-series", 1, 7, now=LATER)

    assert raised.value.message == "journey 'welcome-series' has no version 7"


def test_enrollments_of_older_versions_stay_pinned(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    (pinned,) = enroll(database, "welcome-series", 1, [("welcome", "waiting")])

    deploy(database, [("w.yaml", WELCOME_V1.replace("Hi again", "Hello again"))], now=LATER)

    with database.sessions() as session:
        row = session.get(Enrollment, pinned)
        assert row is not None
        assert (row.version, row.step) == (1, "welcome")


def test_two_files_with_one_id_are_refused(database):
    planned = plan(database, [("a.yaml", WELCOME_V1), ("b.yaml", WELCOME_V1)])

    assert [d.format() for d in planned.errors] == [
        "b.yaml:2:5: error[E502] id: journey 'welcome-series' is also defined in a.yaml"
    ]


def test_pause_resume_and_archive_follow_their_rules(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    enroll(database, "welcome-series", 1, [("remind", "waiting"), ("done", "exited")])

    with database.unit_of_work() as session:
        paused = pause(session, "welcome-series", now=LATER)
        again = pause(session, "welcome-series", now=LATER)
    with database.unit_of_work() as session:
        resumed = resume(session, "welcome-series", now=LATER)
        still = resume(session, "welcome-series", now=LATER)
    with database.unit_of_work() as session:
        archived = archive(session, "welcome-series", now=LATER)
        archived_again = archive(session, "welcome-series", now=LATER)
    with database.sessions() as session:
        with pytest.raises(Conflict) as no_resume:
            resume(session, "welcome-series", now=LATER)
        with pytest.raises(Conflict) as no_pause:
            pause(session, "welcome-series", now=LATER)
        statuses = set(session.scalars(select(Enrollment.status)))
        reasons = set(session.scalars(select(Enrollment.exit_reason)))
        journey = session.get(Journey, "welcome-series")

    assert (paused.previous, paused.status, paused.changed) == ("active", "paused", True)
    assert again.changed is False
    assert (resumed.previous, resumed.status) == ("paused", "active")
    assert still.changed is False
    assert (archived.status, archived.enrollments_ended) == ("archived", 1)
    assert (archived_again.changed, archived_again.enrollments_ended) == (False, 0)
    assert "cannot be resumed" in no_resume.value.message
    assert no_pause.value.message == (
        "journey 'welcome-series' is archived; only an active one pauses"
    )
    assert statuses == {"exited"}
    assert "journey archived" in reasons
    assert journey is not None
    assert (journey.status, journey.updated_at) == ("archived", LATER)


def test_a_paused_journey_takes_a_new_version_and_stays_paused(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    with database.unit_of_work() as session:
        pause(session, "welcome-series", now=NOW)

    result = deploy(database, [("w.yaml", WELCOME_V1.replace("Hi again", "Yo"))], now=LATER)

    assert [(j.version, j.status) for j in result.journeys] == [(2, "paused")]


def test_an_archived_journey_takes_no_new_version_but_an_unchanged_file_passes(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    with database.unit_of_work() as session:
        archive(session, "welcome-series", now=NOW)

    unchanged = plan(database, [("w.yaml", WELCOME_V1)])
    changed = plan(database, [("w.yaml", WELCOME_V1.replace("Hi again", "Yo"))])

    assert unchanged.ok
    assert [j.kind for j in unchanged.journeys] == ["unchanged"]
    assert [(d.code, d.line, d.col) for d in changed.errors] == [("E503", 2, 5)]


def test_lifecycle_calls_on_an_unknown_journey_suggest_the_closest_id(database):
    deploy(database, [("w.yaml", WELCOME_V1)])

    with database.sessions() as session, pytest.raises(NotFound) as raised:
        pause(session, "welcome-serie", now=NOW)

    assert raised.value.message == "no journey 'welcome-serie' (did you mean 'welcome-series'?)"


def test_a_plan_applied_after_another_deploy_is_a_conflict(database):
    deploy(database, [("w.yaml", WELCOME_V1)])
    edited = [("w.yaml", WELCOME_V1.replace("Hi again", "Yo"))]
    stale = plan(database, edited)
    deploy(database, [("w.yaml", WELCOME_V1.replace("Hi again", "Hey"))])

    with database.sessions() as session, pytest.raises(Conflict) as raised:
        apply_deploy(session, stale, now=LATER, published_by="test")

    assert "welcome-series changed since this deploy was planned" in raised.value.message
    assert versions_of(database, "welcome-series") == [1, 2]


def test_get_version_of_an_unknown_version_is_not_found(database):
    deploy(database, [("w.yaml", WELCOME_V1)])

    with database.sessions() as session, pytest.raises(NotFound) as raised:
        get_version(session, "welcome-series", 3)

    assert raised.value.message == "journey 'welcome-series' has no version 3"
