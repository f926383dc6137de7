"""``/api/journeys`` through the real ASGI app, on each backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.store.models import Journey, JourneyVersion
from tests.engine.deploy.support import EXAMPLE_IDS, EXAMPLES, WELCOME_V1, WELCOME_V2

JA_PATH = "journeys/seminar-followup-ja.yaml"
JA = dict(EXAMPLES)[JA_PATH]
# Two mistakes a marketer makes: a misspelt step name and a key typed in Japanese.
JA_BROKEN = JA.replace("next: seminar_points", "next: seminar_point").replace(
    "reason: セミナー参加,", "reason: セミナー参加, 重み: 2,"
)


@pytest.fixture(autouse=True)
def journey_folders(settings, tmp_path: Path):
    """No template or segment files: those references are left unchecked, as in the CLI."""
    settings.journeys_dir = tmp_path / "journeys"
    settings.templates_dir = tmp_path / "templates"


def files(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"filename": name, "source": text} for name, text in pairs]


def stored(database) -> tuple[int, int]:
    with database.sessions() as session:
        journeys = session.scalar(select(func.count()).select_from(Journey)) or 0
        versions = session.scalar(select(func.count()).select_from(JourneyVersion)) or 0
    return journeys, versions


def place(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of ``needle``'s first character, counted in characters."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(needle)


def test_validate_reports_each_finding_of_a_broken_japanese_journey_with_its_place(client, key_for):
    response = client.post(
        "/api/journeys/validate",
        json={"filename": JA_PATH, "source": JA_BROKEN},
        headers=key_for("marketer"),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False
    step_line, step_col = place(JA_BROKEN, "seminar_point")
    key_line, key_col = place(JA_BROKEN, "重み")
    assert body["diagnostics"] == [
        {
            "file": JA_PATH,
            "line": step_line,
            "col": step_col,
            "severity": "error",
            "code": "E201",
            "path": "steps.thanks.next",
            "message": "unknown step 'seminar_point' (did you mean 'seminar_points'?)",
        },
        {
            "file": JA_PATH,
            "line": key_line,
            "col": key_col,
            "severity": "error",
            "code": "E101",
            "path": "steps.seminar_points.重み",
            "message": "unknown key '重み'",
        },
    ]
    assert (step_line, step_col, key_line, key_col) == (38, 11, 39, 62)
    assert body["plan"]["change"] == "invalid"


def test_validate_of_a_good_file_says_what_a_deploy_would_do(client, admin):
    client.post("/api/journeys/deploy", json=files(("w.yaml", WELCOME_V1)), headers=admin)

    response = client.post(
        "/api/journeys/validate",
        json={"filename": "w.yaml", "source": WELCOME_V2 + "migrate: {remind: nudge}\n"},
        headers=admin,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["ok"], body["diagnostics"]) == (True, [])
    plan = body["plan"]
    assert (plan["change"], plan["active_version"], plan["version"]) == ("changed", 1, 2)
    assert plan["diff"]["steps_added"] == [{"step": "nudge", "type": "send_email", "fields": []}]
    assert plan["diff"]["migrate"] == {"remind": "nudge"}


def test_validate_shows_e501_against_the_active_version(client, admin):
    client.post("/api/journeys/deploy", json=files(("w.yaml", WELCOME_V1)), headers=admin)

    response = client.post(
        "/api/journeys/validate", json={"filename": "w.yaml", "source": WELCOME_V2}, headers=admin
    )

    assert response.status_code == 200
    assert [d["code"] for d in response.json()["diagnostics"]] == ["E501"]


def test_a_malformed_validate_request_is_422_naming_the_field(client, admin):
    response = client.post("/api/journeys/validate", json={"source": "x"}, headers=admin)

    assert response.status_code == 422
    assert response.json()["error"]["fields"] == [
        {"field": "filename", "message": "Field required"}
    ]


def test_deploy_stores_the_examples_then_lists_and_reads_them(client, key_for, database):
    writer = key_for("marketer")

    first = client.post("/api/journeys/deploy", json=files(*EXAMPLES), headers=writer)
    again = client.post("/api/journeys/deploy", json=files(*EXAMPLES), headers=writer)
    listed = client.get("/api/journeys", headers=key_for("sales"))
    detail = client.get("/api/journeys/seminar-followup-ja", headers=writer)
    version = client.get("/api/journeys/seminar-followup-ja/versions/1", headers=writer)

    assert first.status_code == 200, first.text
    assert [(j["change"], j["version"], j["status"]) for j in first.json()["journeys"]] == [
        ("new", 1, "active")
    ] * len(EXAMPLES)
    assert [j["change"] for j in again.json()["journeys"]] == ["unchanged"] * len(EXAMPLES)
    assert stored(database) == (len(EXAMPLES), len(EXAMPLES))
    assert listed.status_code == 200
    assert [(j["id"], j["active_version"], j["versions"]) for j in listed.json()] == [
        (journey_id, 1, 1) for journey_id in EXAMPLE_IDS
    ]
    assert detail.status_code == 200
    assert detail.json()["name"].startswith("セミナー参加者フォローアップ")
    assert [v["version"] for v in detail.json()["version_history"]] == [1]
    assert detail.json()["active_spec"]["start"] == "thanks"
    assert version.json()["source"] == JA
    assert version.json()["published_by"] == "api:test marketer"


def test_a_deploy_with_one_broken_file_is_422_with_findings_and_stores_nothing(
    client, admin, database
):
    response = client.post(
        "/api/journeys/deploy",
        json=files(("journeys/w.yaml", WELCOME_V1), (JA_PATH, JA_BROKEN)),
        headers=admin,
    )

    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "invalid_journey"
    assert body["error"]["message"] == "2 errors in 1 file; nothing was deployed"
    assert [(d["code"], d["line"], d["col"]) for d in body["diagnostics"]] == [
        ("E201", 38, 11),
        ("E101", 39, 62),
    ]
    assert body["error"]["fields"][0]["field"] == f"{JA_PATH}:38:11"
    assert stored(database) == (0, 0)


def test_pause_resume_archive_through_the_api(client, admin):
    client.post("/api/journeys/deploy", json=files(("w.yaml", WELCOME_V1)), headers=admin)

    paused = client.post("/api/journeys/welcome-series/pause", headers=admin)
    resumed = client.post("/api/journeys/welcome-series/resume", headers=admin)
    archived = client.post("/api/journeys/welcome-series/archive", headers=admin)
    refused = client.post("/api/journeys/welcome-series/resume", headers=admin)
    redeploy = client.post(
        "/api/journeys/deploy",
        json=files(("w.yaml", WELCOME_V1.replace("Hi again", "Yo"))),
        headers=admin,
    )
    listed = client.get("/api/journeys?status=archived", headers=admin)

    assert paused.json() == {
        "journey_id": "welcome-series",
        "previous": "active",
        "status": "paused",
        "enrollments_ended": 0,
    }
    assert resumed.json()["status"] == "active"
    assert archived.json()["status"] == "archived"
    assert refused.status_code == 409
    assert "cannot be resumed" in refused.json()["error"]["message"]
    assert redeploy.status_code == 422
    assert [d["code"] for d in redeploy.json()["diagnostics"]] == ["E503"]
    assert [j["id"] for j in listed.json()] == ["welcome-series"]


def test_unknown_journeys_and_versions_are_404(client, admin):
    client.post("/api/journeys/deploy", json=files(("w.yaml", WELCOME_V1)), headers=admin)

    journey = client.get("/api/journeys/welcome", headers=admin)
    version = client.get("/api/journeys/welcome-series/versions/2", headers=admin)
    pause = client.post("/api/journeys/nope/pause", headers=admin)

    assert journey.status_code == 404
    assert journey.json()["error"]["message"] == (
        "no journey 'welcome' (did you mean 'welcome-series'?)"
    )
    assert version.status_code == 404
    assert pause.status_code == 404


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/journeys/deploy", files(("w.yaml", WELCOME_V1))),
        ("post", "/api/journeys/welcome-series/pause", None),
        ("post", "/api/journeys/welcome-series/resume", None),
        ("post", "/api/journeys/welcome-series/archive", None),
    ],
)
def test_sales_and_ingest_keys_cannot_change_journeys(client, key_for, method, url, body):
    for scopes in (("sales",), ("ingest",)):
        response = client.request(method, url, json=body, headers=key_for(*scopes))

        assert response.status_code == 403, (scopes, response.text)


def test_reads_need_a_reader_key(client, key_for):
    sales = client.get("/api/journeys", headers=key_for("sales"))
    ingest = client.get("/api/journeys", headers=key_for("ingest"))
    nobody = client.get("/api/journeys")
    validate = client.post(
        "/api/journeys/validate",
        json={"filename": "w.yaml", "source": WELCOME_V1},
        headers=key_for("ingest"),
    )

    assert (sales.status_code, ingest.status_code, nobody.status_code) == (200, 403, 401)
    assert validate.status_code == 403


def test_an_empty_deploy_is_refused(client, admin):
    response = client.post("/api/journeys/deploy", json=[], headers=admin)

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "body"
