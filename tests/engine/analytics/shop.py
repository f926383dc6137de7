"""A small Japanese shop: five customers with yen purchases, journeys, stages and handoffs.

Every figure the analytics tests expect is worked out by hand from this data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from engine.store.models import (
    Contact,
    Enrollment,
    Event,
    Handoff,
    Journey,
    JourneyVersion,
    StageChange,
    StepRun,
    User,
)

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)

#: name → (attributes, lifecycle stage, [(days ago, properties)]) of purchase events.
CUSTOMERS: dict[str, tuple[dict[str, Any], str, list[tuple[float, dict[str, Any]]]]] = {
    "山田": (
        {"source": "展示会"},
        "customer",
        [(1, {"amount": 12000}), (10, {"amount": 8000}), (40, {"amount": 5000})],
    ),
    "佐藤": ({}, "customer", [(5, {"amount": 3000, "currency": "JPY"})]),
    "鈴木": ({}, "customer", [(30, {"amount": 50000}), (60, {"amount": 50000})]),
    "高橋": ({}, "lead", [(200, {"amount": 1000})]),
    "田中": (
        {},
        "customer",
        [(90, {"revenue": 20000, "currency": "jpy"}), (100, {"revenue": 20000})],
    ),
    "伊藤": ({}, "lead", []),
}


def seed(session: Session) -> dict[str, int]:
    """Store the shop; return contact ids by family name."""
    ids: dict[str, int] = {}
    for n, (name, (attributes, stage, purchases)) in enumerate(CUSTOMERS.items(), start=1):
        ids[name] = session.execute(
            insert(Contact)
            .values(
                email=f"c{n}@example.jp",
                last_name=name,
                attributes=attributes,
                lifecycle_stage=stage,
                score=0,
                created_at=NOW - 400 * DAY,
                updated_at=NOW,
            )
            .returning(Contact.id)
        ).scalar_one()
        for days, properties in purchases:
            _event(session, ids[name], "purchase", properties, NOW - days * DAY)
    # Not counted: another currency, another event type, a purchase after now.
    _event(session, ids["山田"], "purchase", {"amount": 49.99, "currency": "USD"}, NOW - DAY)
    _event(session, ids["山田"], "page_view", {"amount": 999999}, NOW - DAY)
    _event(session, ids["佐藤"], "purchase", {"amount": 7000}, NOW + DAY)
    # First touch: 佐藤 and 伊藤 came from a newsletter; 山田's attribute wins over its UTM.
    _event(session, ids["佐藤"], "page_view", {"utm_source": "メルマガ"}, NOW - 300 * DAY)
    _event(session, ids["佐藤"], "page_view", {"utm_source": "google"}, NOW - 200 * DAY)
    _event(session, ids["伊藤"], "page_view", {"utm_source": "メルマガ"}, NOW - 10 * DAY)
    _event(session, ids["山田"], "page_view", {"utm_source": "google"}, NOW - 300 * DAY)
    return ids


def seed_funnel(session: Session, ids: dict[str, int]) -> None:
    """Store journeys, stage changes and handoffs for the shop's contacts."""
    session.execute(
        insert(Journey).values(
            id="welcome", name="ようこそ", status="active", created_at=NOW, updated_at=NOW
        )
    )
    session.execute(
        insert(JourneyVersion).values(
            journey_id="welcome",
            version=1,
            source="",
            spec={},
            checksum="0" * 64,
            published_at=NOW,
            published_by="test",
        )
    )
    for n, name in enumerate(["山田", "佐藤", "鈴木", "高橋"]):
        enrollment = session.execute(
            insert(Enrollment)
            .values(
                journey_id="welcome",
                version=1,
                contact_id=ids[name],
                key="",
                status="exited" if n < 2 else "active",
                exit_reason="completed" if n < 2 else None,
                step="done" if n < 2 else "wait",
                entry={},
                state={},
                entered_at=NOW - 50 * DAY,
                updated_at=NOW,
            )
            .returning(Enrollment.id)
        ).scalar_one()
        if n in (0, 2):
            session.execute(
                insert(StepRun).values(
                    enrollment_id=enrollment,
                    step="goal:purchased",
                    attempt=1,
                    status="done",
                    started_at=NOW,
                )
            )
    # lead → mql: 山田 (then sql after 2 days, customer), 佐藤 (then sql after 4 days), 高橋.
    stages = {
        "山田": [("lead", 30), ("mql", 20), ("sql", 18), ("customer", 10)],
        "佐藤": [("lead", 30), ("mql", 20), ("sql", 16)],
        "高橋": [("lead", 30), ("mql", 25)],
        "伊藤": [("lead", 5)],
    }
    for name, changes in stages.items():
        for stage, days in changes:
            session.execute(
                insert(StageChange).values(
                    contact_id=ids[name],
                    to_stage=stage,
                    reason="テスト",
                    occurred_at=NOW - days * DAY,
                )
            )
    reps = {
        email: session.execute(
            insert(User)
            .values(email=email, password_hash="x", role="sales", created_at=NOW)
            .returning(User.id)
        ).scalar_one()
        for email in ("kato@example.jp", "mori@example.jp")
    }
    handoffs = [
        ("山田", "kato@example.jp", "accepted", 2.0),
        ("佐藤", "kato@example.jp", "accepted", 4.0),
        ("高橋", "kato@example.jp", "rejected", 1.0),
        ("伊藤", "mori@example.jp", "assigned", None),
        ("鈴木", None, "pending", None),
    ]
    for name, rep, status, hours in handoffs:
        session.execute(
            insert(Handoff).values(
                contact_id=ids[name],
                assignee_id=reps[rep] if rep else None,
                status=status,
                brief={},
                created_at=NOW - 3 * DAY,
                responded_at=NOW - 3 * DAY + timedelta(hours=hours) if hours else None,
            )
        )


def _event(
    session: Session, contact_id: int, kind: str, properties: dict[str, Any], at: datetime
) -> None:
    session.execute(
        insert(Event).values(
            contact_id=contact_id,
            type=kind,
            properties=properties,
            occurred_at=at,
            received_at=at,
            source="test",
        )
    )
