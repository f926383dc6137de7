"""SQL and the Python predicate pick the same contacts, for random audiences and conditions."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from sqlalchemy import select

from engine.journey.conditions import Condition, iter_conditions
from engine.journey.predicates import compile_condition
from engine.segments import condition_sql, count_matching, sample_matching
from engine.store.models import Contact
from tests.engine.segments.audience import NOW, Person, clear, store, view
from tests.engine.segments.strategies import conditions, people

CONDITION = TypeAdapter(Condition)
# Raise NURTURE_PARITY_EXAMPLES for a longer hunt; the default keeps each backend near 10 s.
PARITY = settings(
    max_examples=int(os.environ.get("NURTURE_PARITY_EXAMPLES", "80")),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_parity(database: Any, audience: list[Person], raw: dict[str, Any]) -> None:
    """Store ``audience``, then check SQL and Python agree on who ``raw`` matches."""
    condition = CONDITION.validate_python(raw)
    for n, person in enumerate(audience, start=1):
        person.columns["email"] = f"c{n}@example.com"
    with database.unit_of_work() as session:
        clear(session)
        ids = store(session, audience)
    predicate = compile_condition(condition)
    expected = {i for i, person in zip(ids, audience, strict=True) if predicate(view(person), NOW)}
    with database.sessions() as session:
        matched = sample_matching(session, condition, NOW, len(ids) + 1)
        counted = count_matching(session, condition, NOW)
        if set(matched) != expected:
            raise AssertionError(_smallest_mismatch(session, condition, ids, audience))
    assert counted == len(expected)


def _smallest_mismatch(session: Any, condition: Any, ids: list[int], audience: list[Person]) -> str:
    """Name the deepest sub-condition on which SQL and Python disagree, for one contact."""
    found = "?"
    for node, path, in_event in iter_conditions(condition, ()):
        if in_event:
            continue
        clause = condition_sql(node, now=NOW, dialect=session.get_bind().dialect.name)
        rows = dict(session.execute(select(Contact.id, clause)).all())
        test = compile_condition(node)
        for contact_id, person in zip(ids, audience, strict=True):
            python = test(view(person), NOW)
            if bool(rows[contact_id]) != python:
                found = f"{path}: {node!r}\nSQL={rows[contact_id]} Python={python}\n{person!r}"
    return found


@PARITY
@given(audience=st.lists(people(), min_size=1, max_size=6), raw=conditions)
def test_sql_matches_the_predicate(database, audience, raw):
    assert_parity(database, audience, raw)
