"""Per-step counts and the backlog, after real stepping on both backends."""

from __future__ import annotations

from datetime import timedelta

from engine.runtime.stats import backlog, step_counts
from tests.engine.runtime.test_advance import NOW, step, yamada  # noqa: F401 - fixture


def test_step_counts_and_backlog(database, yamada):  # noqa: F811 - the fixture
    _, enrollment_id = yamada
    with database.sessions() as session:
        before = backlog(session, now=NOW)
    assert (before.live, before.due) == (1, 1)
    assert before.oldest_due_age == timedelta(0)
    step(database, [enrollment_id], NOW)
    with database.sessions() as session:
        counts = step_counts(session, "b2b-lead-nurture")
        after = backlog(session, now=NOW + timedelta(hours=1))
    assert counts[(1, "welcome")].entered == 1
    assert counts[(1, "wait_2d")].entered == 1
    assert counts[(1, "wait_2d")].waiting == 1
    assert counts[(1, "welcome")].waiting == 0
    assert (after.live, after.due, after.oldest_due_age) == (1, 0, None)
    assert after.outbox_pending == {"contacts.changed": 1, "email.send": 1}
