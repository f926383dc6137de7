"""Conditions as SQL: the edges that matter, the API, and what a whole-audience query refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter

from engine.journey.conditions import Condition
from engine.segments import UnsupportedInSql, condition_sql, count_matching, sample_matching
from tests.engine.segments.audience import NOW, Mail, Person, Track, clear, store
from tests.engine.segments.test_parity import assert_parity

CONDITION = TypeAdapter(Condition)

EDGES = [
    # A date-time equals its day; offsets compare as instants.
    {"attr": "signup", "eq": "2025-06-15"},
    {"attr": "signup", "eq": "2025-06-15T12:00:00Z"},
    {"attr": "signup", "after": "2025-06-15T20:59:59+09:00"},
    {"attr": "signup", "lte": "2025-06-15T12:00:00.000001"},
    # Invalid dates have the shape, so they never order against dates but do as text.
    {"attr": "signup", "gt": "2025-01-01"},
    {"attr": "signup", "gt": "a"},
    {"attr": "signup", "ne": "2025-02-30"},
    {"attr": "signup", "within_last": "3d"},
    {"attr": "signup", "within_next": "1h"},
    # Numbers never equal booleans or numeric text; lists match item-wise.
    {"attr": "age", "eq": 1},
    {"attr": "age", "eq": True},
    {"attr": "age", "in": [1, "10"]},
    {"attr": "flags", "contains": "pro"},
    {"attr": "flags", "eq": ["pro", 1]},
    {"attr": "flags", "nin": ["pro"]},
    # Japanese keys and text; code point order.
    {"attr": "名前", "starts_with": "東"},
    {"attr": "名前", "gt": "東京"},
    {"attr": "名前", "contains": "京"},
    # A literal dotted key wins over the walk; a column wins over a JSON key.
    {"attr": "a.b", "eq": "literal"},
    {"attr": "email", "starts_with": "c1@"},
    {"attr": "score", "between": [10, 20]},
    {"attr": "created_at", "within_last": "1d"},
    {"attr": "plan", "eq": {"ref": "contact.first_name"}},
    {"attr": "missing", "exists": False},
    {"not": {"attr": "missing", "eq": 1}},
]

AUDIENCE = [
    Person(
        attributes={
            "signup": "2025-06-15T12:00:00Z",
            "age": 1,
            "flags": ["pro", 1],
            "名前": "東京都",
            "a.b": "literal",
            "a": {"b": "walked"},
            "plan": "pro",
            "email": "json@example.com",
        },
        columns={"first_name": "pro", "score": 15},
    ),
    Person(
        attributes={"signup": "2025-02-30", "age": True, "flags": [["pro"]], "名前": "山田"},
        columns={"created_at": NOW - timedelta(days=2)},
    ),
    Person(
        attributes={"signup": "2025-06-15", "age": 1.0, "flags": "pro", "a": {"b": "literal"}},
        columns={"score": 20},
    ),
    Person(attributes={"signup": "２０２５-06-15", "age": "1", "名前": "東"}),
    Person(attributes={"signup": "2025-06-12T12:00:00+00:00", "missing": None}),
]


@pytest.mark.parametrize("raw", EDGES, ids=[str(e) for e in EDGES])
def test_edges_match_the_predicate(database, raw):
    assert_parity(database, [Person(**vars(p)) for p in AUDIENCE], raw)


def test_relations_match_the_predicate(database):
    people = [
        Person(
            tags={"vip"},
            subscriptions={"news": True, "offers": False},
            segments={"trial_users"},
            events=[
                ("order", {"total": 30, "sku": "東京-1"}, NOW - timedelta(days=1)),
                ("order", {"total": 5}, NOW - timedelta(days=3)),
                ("order", {"total": 50}, NOW + timedelta(hours=1)),
            ],
            mails=[
                Mail(
                    "welcome",
                    "t1",
                    NOW - timedelta(days=2),
                    tracks=[Track("open", "machine", NOW - timedelta(days=2))],
                ),
                Mail(
                    "nudge",
                    "t2",
                    NOW - timedelta(hours=2),
                    tracks=[Track("click", "human", NOW - timedelta(hours=1))],
                ),
            ],
            score_changes=[("engagement", 40, NOW - timedelta(days=1))],
            rfm="at_risk",
        ),
        Person(subscriptions={"offers": True}, rfm="champions", lists={"展示会"}),
        Person(lists={"展示会", "seminar-2026-03"}),
    ]
    for raw in [
        {"tag": "vip"},
        {"subscribed": "offers"},
        {"segment": "trial_users"},
        {"event": "order", "within": "3d", "count": {"eq": 2}},
        {"event": "order", "where": {"prop": "total", "gte": 30}},
        {"event": "order", "where": {"prop": "sku", "starts_with": "東京"}},
        {"event": "order", "count": {"lt": 1}},
        {"email": "opened", "step": "welcome"},
        {"email": "opened", "step": "welcome", "human": False},
        {"email": "clicked", "template": "t2", "within": "1h"},
        {"email": "sent", "steps": ["welcome", "nudge"], "within": "1d"},
        {"score": {"gte": 40}, "model": "engagement"},
        {"score": {"eq": 0}},
        {"rfm": "at_risk"},
        {"rfm": ["champions", "lost"]},
        {"not": {"rfm": "champions"}},
        {"list": "展示会"},
        {"all": [{"list": "展示会"}, {"not": {"list": "seminar-2026-03"}}]},
    ]:
        assert_parity(database, people, raw)


def test_a_list_condition_counts_the_members_of_that_list(database):
    with database.unit_of_work() as session:
        clear(session)
        ids = store(
            session,
            [
                Person(lists={"展示会"}),
                Person(lists={"展示会", "webinar"}),
                Person(lists={"webinar"}),
            ],
        )
    with database.sessions() as session:
        on_list = CONDITION.validate_python({"list": "展示会"})
        assert count_matching(session, on_list, NOW) == 2
        assert sample_matching(session, on_list, NOW, 5) == ids[:2]
        nobody = CONDITION.validate_python({"list": "nothing-here"})
        assert count_matching(session, nobody, NOW) == 0


def test_count_and_sample(database):
    with database.unit_of_work() as session:
        clear(session)
        ids = store(session, [Person(tags={"vip"}) for _ in range(5)] + [Person()])
    condition = CONDITION.validate_python({"tag": "vip"})
    with database.sessions() as session:
        assert count_matching(session, condition, NOW) == 5
        assert sample_matching(session, condition, NOW, 3) == ids[:3]
        assert sample_matching(session, condition, NOW, 0) == []


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"entry": "properties.cart_id", "exists": True}, "entry: properties.cart_id"),
        ({"all": [{"tag": "x"}, {"attr": "plan", "eq": {"ref": "entry.plan"}}]}, "entry.plan"),
        ({"event": "order", "since": "entry"}, "since: entry"),
        ({"any": [{"prop": "total", "gt": 1}]}, "'prop'"),
    ],
)
def test_leaves_that_need_one_enrollment_are_refused(raw, named):
    condition = CONDITION.validate_python(raw)
    with pytest.raises(UnsupportedInSql) as raised:
        condition_sql(condition, now=NOW, dialect="postgresql")
    assert named in str(raised.value)
    assert raised.value.code == "unsupported_in_sql"


def test_membership_rows_go_with_their_contact(database):
    with database.unit_of_work() as session:
        clear(session)
        store(session, [Person(segments={"trial_users"})])
    condition = CONDITION.validate_python({"segment": "trial_users"})
    with database.unit_of_work() as session:
        assert count_matching(session, condition, NOW) == 1
        clear(session)
        assert count_matching(session, condition, NOW) == 0
