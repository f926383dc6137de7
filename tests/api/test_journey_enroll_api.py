"""``POST /api/journeys/{id}/enrollments``: manual enrollment under the journey's entry rules."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from engine.store.models import Enrollment

B2B = (Path(__file__).parents[2] / "journeys" / "b2b-lead-nurture.yaml").read_text(encoding="utf-8")


def test_enrolling_by_email_applies_audience_and_entry_rules(client, admin, database):
    assert (
        client.post(
            "/api/journeys/deploy", json=[{"filename": "b2b.yaml", "source": B2B}], headers=admin
        ).status_code
        == 200
    )
    client.post(
        "/api/contacts",
        json={"email": "lead@example.jp", "lifecycle_stage": "lead", "last_name": "木村"},
        headers=admin,
    )
    client.post(
        "/api/contacts",
        json={"email": "buyer@example.jp", "lifecycle_stage": "customer"},
        headers=admin,
    )
    body = {"emails": ["Lead@Example.jp", "buyer@example.jp", "ghost@example.jp"]}
    first = client.post("/api/journeys/b2b-lead-nurture/enrollments", json=body, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "enrolled": 1,
        "refused": {"audience": 1},
        "unknown": ["ghost@example.jp"],
    }
    again = client.post(
        "/api/journeys/b2b-lead-nurture/enrollments",
        json={"emails": ["lead@example.jp"]},
        headers=admin,
    ).json()
    assert again["enrolled"] == 0
    assert again["refused"] == {"already_enrolled": 1}
    with database.sessions() as session:
        enrollment = session.scalars(select(Enrollment)).one()
        assert (enrollment.step, enrollment.status, enrollment.entry) == (
            "welcome",
            "active",
            {"name": "manual"},
        )


def test_enrolling_needs_an_active_journey_and_valid_emails(client, admin):
    client.post(
        "/api/journeys/deploy", json=[{"filename": "b2b.yaml", "source": B2B}], headers=admin
    )
    bad = client.post(
        "/api/journeys/b2b-lead-nurture/enrollments",
        json={"emails": ["ok@example.jp", "nope@"]},
        headers=admin,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "emails[1]"
    client.post("/api/journeys/b2b-lead-nurture/pause", headers=admin)
    paused = client.post(
        "/api/journeys/b2b-lead-nurture/enrollments",
        json={"emails": ["ok@example.jp"]},
        headers=admin,
    )
    assert paused.status_code == 409
    missing = client.post(
        "/api/journeys/nope/enrollments", json={"emails": ["ok@example.jp"]}, headers=admin
    )
    assert missing.status_code == 404


def test_removing_ends_live_enrollments_even_in_a_paused_journey(client, admin, database):
    client.post(
        "/api/journeys/deploy", json=[{"filename": "b2b.yaml", "source": B2B}], headers=admin
    )
    for email, family in (("kimura@example.jp", "木村"), ("ito@example.jp", "伊藤")):
        client.post(
            "/api/contacts",
            json={"email": email, "lifecycle_stage": "lead", "last_name": family},
            headers=admin,
        )
    client.post(
        "/api/journeys/b2b-lead-nurture/enrollments",
        json={"emails": ["kimura@example.jp"]},
        headers=admin,
    )
    client.post("/api/journeys/b2b-lead-nurture/pause", headers=admin)
    body = {"emails": ["Kimura@example.jp", "ito@example.jp", "ghost@example.jp"]}
    removed = client.post(
        "/api/journeys/b2b-lead-nurture/enrollments/exit", json=body, headers=admin
    )
    assert removed.status_code == 200, removed.text
    assert removed.json() == {
        "removed": 1,
        "not_enrolled": ["ito@example.jp"],
        "unknown": ["ghost@example.jp"],
    }
    (journey,) = client.get("/api/contacts/kimura@example.jp/enrollments", headers=admin).json()
    assert (journey["status"], journey["exit_reason"], journey["wake_at"]) == (
        "exited",
        "removed",
        None,
    )
    with database.sessions() as session:
        row = session.scalars(select(Enrollment)).one()
        assert (row.state["status"], row.state["exit_reason"]) == ("exited", "removed")
        assert row.exited_at is not None and row.lease_until is None
    timeline = client.get(
        "/api/contacts/kimura@example.jp/timeline",
        params={"kind": "journey_exited"},
        headers=admin,
    ).json()["items"]
    assert [e["summary"] for e in timeline] == [
        "left journey B2B lead nurture (demo form): removed"
    ]
    stats = client.get("/api/journeys/b2b-lead-nurture/stats", headers=admin).json()
    exits = {s["step"]: s["exited"] for s in stats if s["exited"]}
    assert exits == {"welcome": {"removed": 1}}  # counted where the contact was taken out
    again = client.post(
        "/api/journeys/b2b-lead-nurture/enrollments/exit", json=body, headers=admin
    ).json()
    assert again["removed"] == 0 and again["not_enrolled"] == [
        "ito@example.jp",
        "kimura@example.jp",
    ]

    bad = client.post(
        "/api/journeys/b2b-lead-nurture/enrollments/exit",
        json={"emails": ["ok@example.jp", "nope@"]},
        headers=admin,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "emails[1]"
    missing = client.post(
        "/api/journeys/nope/enrollments/exit", json={"emails": ["ok@example.jp"]}, headers=admin
    )
    assert missing.status_code == 404
