"""``GET /api/journeys/{id}/enrollments``: who is in a journey, by step and status."""

from __future__ import annotations

from pathlib import Path

B2B = (Path(__file__).parents[2] / "journeys" / "b2b-lead-nurture.yaml").read_text(encoding="utf-8")
PEOPLE = [
    ("kimura@example.jp", "木村", "拓也"),
    ("ito@example.jp", "伊藤", "美咲"),
    ("watanabe@example.jp", "渡辺", "健"),
]


def roster(client, admin, **params):
    answer = client.get("/api/journeys/b2b-lead-nurture/enrollments", params=params, headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_roster_lists_by_status_and_step_newest_first_and_pages(client, admin):
    client.post(
        "/api/journeys/deploy", json=[{"filename": "b2b.yaml", "source": B2B}], headers=admin
    )
    for email, family, given in PEOPLE:
        client.post(
            "/api/contacts",
            json={
                "email": email,
                "last_name": family,
                "first_name": given,
                "lifecycle_stage": "lead",
            },
            headers=admin,
        )
        client.post(
            "/api/journeys/b2b-lead-nurture/enrollments", json={"emails": [email]}, headers=admin
        )
    client.post(
        "/api/journeys/b2b-lead-nurture/enrollments/exit",
        json={"emails": ["ito@example.jp"]},
        headers=admin,
    )

    live = roster(client, admin)
    assert [(e["email"], e["name"], e["status"], e["step"]) for e in live["items"]] == [
        ("watanabe@example.jp", "渡辺 健", "active", "welcome"),
        ("kimura@example.jp", "木村 拓也", "active", "welcome"),
    ]
    assert live["next_cursor"] is None
    gone = roster(client, admin, status="exited")["items"]
    assert [(e["email"], e["exit_reason"]) for e in gone] == [("ito@example.jp", "removed")]
    assert gone[0]["exited_at"] is not None
    assert len(roster(client, admin, step="welcome", status="all")["items"]) == 3
    assert roster(client, admin, step="wait_2d")["items"] == []
    assert roster(client, admin, version=2)["items"] == []

    seen, cursor = [], None
    while True:
        page = roster(
            client, admin, status="all", limit=1, **({"cursor": cursor} if cursor else {})
        )
        seen += [e["email"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["watanabe@example.jp", "ito@example.jp", "kimura@example.jp"]

    path = "/api/journeys/b2b-lead-nurture/enrollments"
    bad = client.get(path, params={"cursor": "nonsense"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "cursor"
    wrong = client.get(path, params={"status": "sleeping"}, headers=admin)
    assert wrong.status_code == 422
    assert "status" in wrong.text
    missing = client.get("/api/journeys/nope/enrollments", headers=admin)
    assert missing.status_code == 404
