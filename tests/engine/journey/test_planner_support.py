"""Helpers shared by the planner tests (this module holds no tests)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from engine.journey import (
    Catalog,
    ContactView,
    EnrollmentState,
    JourneySpec,
    Plan,
    load_journey,
    validate_journey,
)
from engine.journey.actions import Action
from tests.engine.journey.support import CATALOG, JOURNEYS

NOW = datetime(2026, 6, 15, 3, 0, tzinfo=UTC)
"""Monday 2026-06-15, 12:00 in Tokyo (23:00 Sunday in New York)."""

HEADER = """\
dsl: journey/v1
id: {id}
name: 計画テスト
version: 1
triggers: [{{event: seminar_attended}}]
timezone: {{attribute: timezone, fallback: Asia/Tokyo}}
"""
DEFAULTS = """\
defaults: {send_email: {from: {name: 株式会社ナーチャー, email: info@nurture.example.jp}}}
"""


def journey(body: str, *, journey_id: str = "planner-test") -> JourneySpec:
    """Validate a journey made of the shared header and ``body`` (top-level YAML)."""
    body = textwrap.dedent(body)
    if "defaults:" not in body:
        body = DEFAULTS + body
    text = HEADER.format(id=journey_id) + body
    report = validate_journey(text, "planner-test.yaml", Catalog())
    assert report.spec is not None, report.format()
    return report.spec


def loose_journey(body: str) -> JourneySpec:
    """Load a journey that passes the schema but not every check (unreached steps, say)."""
    loaded = load_journey(HEADER.format(id="planner-test") + DEFAULTS + textwrap.dedent(body))
    assert loaded.spec is not None, loaded.diagnostics
    return loaded.spec


def example(name: str) -> JourneySpec:
    """Return a shipped example journey."""
    path = JOURNEYS / f"{name}.yaml"
    report = validate_journey(path.read_text(encoding="utf-8"), path.name, CATALOG)
    assert report.spec is not None, report.format()
    return report.spec


def enter(
    spec: JourneySpec,
    at: datetime = NOW,
    *,
    entry: Mapping[str, Any] | None = None,
    contact_id: str = "contact-山田",
    enrollment_id: str = "enr-1",
) -> EnrollmentState:
    """Return a fresh enrollment."""
    return EnrollmentState.enter(
        spec, enrollment_id=enrollment_id, contact_id=contact_id, entered_at=at, entry=entry
    )


def yamada(**attributes: Any) -> ContactView:
    """Return 山田花子, in Tokyo unless told otherwise, subscribed to marketing mail."""
    base: dict[str, Any] = {
        "email": "hanako.yamada@example.jp",
        "last_name": "山田",
        "first_name": "花子",
        "timezone": "Asia/Tokyo",
    }
    return ContactView(
        attributes={**base, **attributes},
        subscriptions=frozenset({"marketing_email", "seminar_followup"}),
    )


def kinds(result: Plan) -> list[str]:
    """Return the action class names of a plan, in order."""
    return [type(a).__name__ for a in result.actions]


def only(result: Plan, kind: type[Action]) -> Any:
    """Return the single action of ``kind`` in a plan."""
    found = [a for a in result.actions if isinstance(a, kind)]
    assert len(found) == 1, result.actions
    return found[0]


def z(text: str) -> datetime:
    """Parse an ISO instant with its offset, as UTC."""
    return datetime.fromisoformat(text).astimezone(UTC)
