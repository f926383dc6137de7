"""Pools: out-of-office dates, territories and round-robin turns (pure), then assignment
through configured pools on both databases, and race-free turns on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.handoffs.assignment import choose_assignee, next_turn
from engine.handoffs.pools import available, territory_for, turn
from engine.scoring.config import store_scoring
from engine.scoring.spec import Away, load_scoring
from engine.store.db import Database
from engine.store.models import Contact, User
from tests.engine.webhooks.support import add_contact, add_user

NOW = datetime(2026, 12, 30, 9, 0, tzinfo=UTC)
POOLS = """\
models: {default: {}}
pools:
  inside-sales:
    method: territory
    members: [hanako@example.jp, jiro@example.jp, ichiro@example.jp, kana@example.jp]
    territories:
      - {when: {region: [関西, 近畿]}, pool: kansai}
      - {when: {employees: {at_least: 1000}}, member: kana@example.jp}
    away: {jiro@example.jp: {from: 2026-12-28, until: 2027-01-04}}
  kansai:
    members: [ken@example.jp]
    fallback: {user: boss@example.jp}
"""


def test_away_dates_are_inclusive() -> None:
    away = {"jiro@example.jp": Away.model_validate({"from": "2026-12-28", "until": "2027-01-04"})}
    assert not available("jiro@example.jp", away, date(2026, 12, 28))
    assert not available("jiro@example.jp", away, date(2027, 1, 4))
    assert available("jiro@example.jp", away, date(2027, 1, 5))
    assert available("hanako@example.jp", away, date(2026, 12, 30))


@pytest.mark.parametrize(
    ("attributes", "target"),
    [
        ({"region": "関西", "employees": 5000}, "pool kansai"),  # first match wins
        ({"region": "関東", "employees": "1,200"}, "member kana@example.jp"),
        ({"region": "関東", "employees": 30}, None),
        ({}, None),
    ],
)
def test_territories_match_in_order(attributes: dict, target: str | None) -> None:
    spec = load_scoring(POOLS).spec
    assert spec is not None
    found = territory_for(spec.pools["inside-sales"].territories, attributes)
    label = (
        None
        if found is None
        else (f"pool {found.pool}" if found.pool else f"member {found.member}")
    )
    assert label == target


def test_turns_rotate_through_members() -> None:
    assert [turn([7, 8, 9], n) for n in range(1, 7)] == [7, 8, 9, 7, 8, 9]
    assert turn([], 3) is None


def assign(database: Database, email: str, **attributes: object) -> tuple[str | None, str]:
    with database.unit_of_work() as session:
        contact = session.scalars(select(Contact).where(Contact.email == email)).first()
        if contact is None:
            contact = add_contact(session, email, now=NOW, attributes=dict(attributes))
        choice = choose_assignee(
            session, strategy=None, pool="inside-sales", fallback={}, contact=contact, now=NOW
        )
        users = {u: e for e, u in _users(session)}
        return users.get(choice.user_id) if choice.user_id else None, choice.reason


def _users(session: Session) -> list[tuple[str, int]]:
    return [(e, i) for e, i in session.execute(select(User.email, User.id))]


def test_configured_pools_skip_away_and_inactive_reps_and_follow_territories(
    database: Database,
) -> None:
    with database.unit_of_work() as session:
        store_scoring(session, POOLS, now=NOW)
        for email in ("hanako@example.jp", "jiro@example.jp", "kana@example.jp", "boss@example.jp"):
            add_user(session, email, "sales", now=NOW)
        add_user(session, "ichiro@example.jp", "sales", now=NOW, active=False)

    picks = [assign(database, f"lead{n}@example.jp", employees=10) for n in range(3)]
    assert [p[0] for p in picks] == ["hanako@example.jp", "kana@example.jp", "hanako@example.jp"]
    assert picks[0][1] == "round_robin in pool inside-sales"
    assert assign(database, "big@example.jp", employees=3000) == (
        "kana@example.jp",
        "territory of kana@example.jp",
    )
    # kansai's only member has no user: kansai's fallback user takes the lead
    assert assign(database, "osaka@example.jp", region="関西") == (
        "boss@example.jp",
        "territory pool kansai: fallback user boss@example.jp",
    )


def test_round_robin_turns_are_race_free(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL's row locks")

    def take(_: int) -> int:
        with database.unit_of_work() as session:
            return next_turn(session, "inside-sales")

    with ThreadPoolExecutor(8) as pool:
        turns = list(pool.map(take, range(40)))
    assert sorted(turns) == list(range(1, 41))
