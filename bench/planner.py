"""Planner throughput: 100,000 in-memory enrollments stepping wait → branch → action.

Each enrollment has already started its ``wait`` (as a stored row would say); one ``plan``
call at its wake time ends the wait, takes the branch on a contact attribute, applies a
``tag`` or a ``score`` and exits. The baseline is a bare Python loop over the same data doing
the equivalent dict updates (wake check, attribute test, tag or score, exit). The ratio is
what the planner's generality costs: compiled conditions, frozen states, idempotency keys,
the trace, goals and ``exit_when`` checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.runner import Context, Figure, median, rate
from engine.journey import (
    CompiledJourney,
    ContactView,
    EnrollmentState,
    compile_journey,
    plan,
    validate_journey,
)

ENROLLMENTS = 100_000
START = datetime(2026, 6, 15, 0, 0, tzinfo=UTC)
WAKE = START + timedelta(days=1)
JOURNEY = """\
dsl: journey/v1
id: bench-planner
name: Planner benchmark
version: 1
triggers: [{event: signed_up}]
start: pause
steps:
  pause: {type: wait, duration: 1d, next: route}
  route:
    type: branch
    if: {attr: plan, eq: pro}
    then: mark
    else: points
  mark: {type: tag, add: [pro-nurtured], next: done}
  points: {type: score, adjust: 5, reason: trial nurtured, next: done}
  done: {type: exit, reason: done}
"""


def population(compiled: CompiledJourney) -> list[tuple[EnrollmentState, ContactView]]:
    """Return enrollments waiting in ``pause`` with their contacts (half pro, half trial)."""
    rows = []
    for i in range(ENROLLMENTS):
        state = EnrollmentState.enter(
            compiled.spec, enrollment_id=f"e{i}", contact_id=f"c{i}", entered_at=START
        )
        state = dataclasses.replace(
            state.visit("pause"), status="waiting", wait_started_at=START, wake_at=WAKE
        )
        contact = ContactView(
            attributes={"plan": "pro" if i % 2 else "trial", "email": f"u{i}@x.io"}
        )
        rows.append((state, contact))
    return rows


def plan_all(compiled: CompiledJourney, rows: list[tuple[EnrollmentState, ContactView]]) -> int:
    exited = 0
    for state, contact in rows:
        exited += plan(compiled, state, contact, WAKE).exited
    assert exited == ENROLLMENTS
    return exited


def bare_rows() -> list[dict[str, Any]]:
    return [
        {
            "step": "pause",
            "wake_at": WAKE,
            "attributes": {"plan": "pro" if i % 2 else "trial", "email": f"u{i}@x.io"},
            "tags": set(),
            "score": 0,
            "status": "waiting",
        }
        for i in range(ENROLLMENTS)
    ]


def bare_loop(rows: list[dict[str, Any]]) -> int:
    exited = 0
    for row in rows:
        if row["wake_at"] > WAKE:
            continue
        row["step"] = "route"
        if row["attributes"].get("plan") == "pro":
            row["tags"] = row["tags"] | {"pro-nurtured"}
            row["step"] = "mark"
        else:
            row["score"] = row["score"] + 5
            row["step"] = "points"
        row["step"], row["status"], row["wake_at"] = "done", "exited", None
        exited += 1
    assert exited == ENROLLMENTS
    return exited


def bare_loop_on(rows: list[dict[str, Any]]) -> Callable[[], int]:
    return lambda: bare_loop(rows)


def run(context: Context) -> list[Figure]:
    report = validate_journey(JOURNEY, "bench-planner.yaml")
    assert report.spec is not None, report.format()
    compiled = compile_journey(report.spec)
    rows = population(compiled)
    planned, bare = [], []
    for _ in range(context.repeat):
        planned.append(rate(ENROLLMENTS, lambda: plan_all(compiled, rows)))
        bare.append(rate(ENROLLMENTS, bare_loop_on(bare_rows())))
    return [
        Figure(
            "planner",
            f"{ENROLLMENTS:,} enrollments: wait → branch → action",
            "plans/s",
            median(planned),
            "bare Python loop, dict updates",
            median(bare),
            context.repeat,
        )
    ]
