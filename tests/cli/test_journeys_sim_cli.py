"""``nurture journeys simulate|test|new|docs`` through Typer's test runner."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.journey_sim import TEMPLATES, reference_markdown, scaffold
from cli.journeys import app
from engine.journey import Catalog, validate_journey
from tests.engine.journey.support import JOURNEYS, ROOT

runner = CliRunner()
SEMINAR = str(JOURNEYS / "seminar-followup-ja.yaml")
ACTIONS = {
    "send_email", "update_contact", "tag", "score", "webhook", "handoff", "notify",
    "goal", "exit", "wait", "branch", "skip",
}  # fmt: skip


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "contact.json").write_text(
        json.dumps(
            {
                "id": "hanako",
                "email": "hanako@example.jp",
                "last_name": "山田",
                "subscriptions": ["seminar_followup"],
                "attributes": {"company": "山田商事"},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    lines = [
        {
            "type": "seminar_attended",
            "occurred_at": "2026-03-06T19:00:00+09:00",
            "properties": {"seminar_id": "ma-intro-01", "seminar_title": "MA入門"},
        },
        {"type": "meeting_booked", "occurred_at": "2026-03-11T15:00:00+09:00", "properties": {}},
    ]
    (tmp_path / "events.jsonl").write_text(
        "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n\n",
        encoding="utf-8",
    )
    return tmp_path


def simulate(files: Path, *extra: str):
    return runner.invoke(
        app,
        [
            "simulate",
            SEMINAR,
            "--contact",
            str(files / "contact.json"),
            "--events",
            str(files / "events.jsonl"),
            *extra,
        ],
    )


def test_simulate_json_follows_the_contract(files: Path) -> None:
    result = simulate(files, "--json", "--until", "30d")

    assert result.exit_code == 0, result.output
    timeline = json.loads(result.stdout)
    assert [(e["step"], e["action"]) for e in timeline] == [
        ("thanks", "wait"),
        ("thanks", "send_email"),
        ("seminar_points", "score"),
        ("wait_1d", "wait"),
        ("opened_thanks", "branch"),
        ("resend_thanks", "send_email"),
        ("wait_meeting", "wait"),
        ("wait_meeting", "goal"),
        ("wait_meeting", "exit"),
    ]
    assert all(set(e) >= {"at", "step", "action", "detail"} for e in timeline)
    assert {e["action"] for e in timeline} <= ACTIONS
    moments = [datetime.fromisoformat(e["at"]) for e in timeline]
    assert all(m.utcoffset() is not None for m in moments)
    assert moments == sorted(moments)
    sent = timeline[1]
    assert sent["at"] == "2026-03-09T09:00:00+09:00"  # deferred from Friday night to Monday
    assert sent["detail"]["preview"] == "山田 様、本日はセミナーへのご参加ありがとうございました"
    assert timeline[4]["detail"]["to"] == "resend_thanks"
    assert timeline[-1]["detail"]["reason"] == "goal:meeting_booked"


def test_simulate_prints_a_table_with_japanese_subjects(files: Path) -> None:
    result = runner.invoke(
        app,
        [
            "simulate",
            SEMINAR,
            "--contact",
            str(files / "contact.json"),
            "--start",
            "2026-03-06T19:00:00+09:00",
            "--until",
            "2026-03-20T00:00:00+09:00",
        ],
        env={"COLUMNS": "200"},
    )

    assert result.exit_code == 0, result.output
    assert "seminar-followup-ja: 0 enrollments" in result.stdout  # no event: nothing triggers
    with_events = runner.invoke(
        app,
        [
            "simulate",
            SEMINAR,
            "--contact",
            str(files / "contact.json"),
            "--events",
            str(files / "events.jsonl"),
            "--explain",
        ],
        env={"COLUMNS": "220"},
    )
    assert with_events.exit_code == 0, with_events.output
    out = with_events.stdout
    assert "local (Asia/Tokyo)" in out and "UTC" in out
    assert "山田 様、本日はセミナーへのご参加ありがとうございました" in out
    assert "2026-03-09 Mon 09:00" in out and "03-09 00:00" in out
    assert "✗ email: opened, step: thanks" in out  # --explain: why the resend


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("contact.json", '{"email": "a@b.co",\n "score": }', "contact.json:2:11: invalid JSON"),
        ("contact.json", '{"score": "high"}', "contact.json: 'score' must be a number"),
        (
            "events.jsonl",
            '{"type": "seminar_attended", "occurred_at": "2026-03-06T19:00:00+09:00"}\n'
            '{"type": "x", "occurred_at": "2026-03-07 09:00"}\n',
            "events.jsonl:2: 'occurred_at' '2026-03-07 09:00' needs a UTC offset",
        ),
        ("events.jsonl", '\n\n{"type": "x",\n', "events.jsonl:3:14: invalid JSON"),
    ],
)
def test_bad_input_names_file_and_line_and_exits_2(
    files: Path, name: str, text: str, message: str
) -> None:
    (files / name).write_text(text, encoding="utf-8")

    result = simulate(files, "--json")

    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_simulate_refuses_an_invalid_journey(files: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dsl: journey/v1\nid: x\n", encoding="utf-8")

    result = runner.invoke(app, ["simulate", str(bad), "--contact", str(files / "contact.json")])

    assert result.exit_code == 1
    assert f"{bad}:" in result.stderr


def test_test_runs_the_shipped_scenarios() -> None:
    result = runner.invoke(app, ["test", str(JOURNEYS / "tests")])

    assert result.exit_code == 0, result.output
    assert "PASSED" in result.stdout
    assert "FAILED" not in result.stdout
    assert " passed in " in result.stdout


def test_test_reports_failures_and_exits_1(tmp_path: Path) -> None:
    shutil.copy(JOURNEYS / "abandoned-cart.yaml", tmp_path / "abandoned-cart.yaml")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "cart.test.yaml").write_text(
        """\
journey: ../abandoned-cart.yaml
contact: {email: a@b.co, subscriptions: [marketing_email]}
events:
  - {type: checkout_started, occurred_at: "2026-06-15T10:00:00Z", properties: {cart_id: c, cart_value: 30}}
scenarios:
  - name: right
    expect: [{action: send_email, step: reminder}]
  - name: wrong
    expect: [{action: send_email, step: reminder, within: 1h}]
    expect_not: [{action: exit}]
""",
        encoding="utf-8",
    )
    (tmp_path / "tests" / "broken.test.yaml").write_text(
        "journey: ../abandoned-cart.yaml\nexpect:\n  - {action: sent}\n", encoding="utf-8"
    )

    result = runner.invoke(app, ["test", str(tmp_path)])

    assert result.exit_code == 1
    assert "cart.test.yaml::right PASSED" in result.stdout
    assert "cart.test.yaml::wrong FAILED" in result.stdout
    assert "expect[0] {action: send_email, step: reminder, within: 1h} did not happen" in (
        result.stdout
    )
    assert "expect_not[0] {action: exit} happened" in result.stdout
    assert "broken.test.yaml:3: expect[0].action: 'sent' is not one of" in result.stdout
    assert "1 passed, 2 failed" in result.stdout


def test_test_without_scenarios_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["test", str(tmp_path)])

    assert result.exit_code == 2
    assert "no scenario files" in result.stderr


@pytest.mark.parametrize("template", TEMPLATES)
def test_new_scaffolds_a_valid_journey_and_never_overwrites(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NURTURE_JOURNEYS_DIR", str(tmp_path / "journeys"))

    created = runner.invoke(app, ["new", "spring-sale", "--template", template])
    again = runner.invoke(app, ["new", "spring-sale", "--template", template])

    assert created.exit_code == 0, created.output
    path = tmp_path / "journeys" / "spring-sale.yaml"
    report = validate_journey(path.read_text(encoding="utf-8"), str(path), Catalog())
    assert report.format() == ""
    assert report.spec is not None and report.spec.id == "spring-sale"
    assert again.exit_code == 1
    assert "already exists" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "Bad Name"], "is not a journey id"),
        (["new", "okay", "--template", "x"], "unknown template"),
    ],
)
def test_new_refuses_bad_names_and_templates(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NURTURE_JOURNEYS_DIR", str(tmp_path))

    result = runner.invoke(app, args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_scaffolds_are_valid_with_the_name_substituted() -> None:
    for template in TEMPLATES:
        text = scaffold("my-journey", template)
        assert "my-journey-" in text and "{name}" not in text
        assert validate_journey(text, "x.yaml").ok


def test_docs_check_reports_drift(tmp_path: Path) -> None:
    target = tmp_path / "journeys.md"

    missing = runner.invoke(app, ["docs", "--check", "--output", str(target)])
    written = runner.invoke(app, ["docs", "--output", str(target)])
    clean = runner.invoke(app, ["docs", "--check", "--output", str(target)])

    assert missing.exit_code == 1
    assert written.exit_code == 0
    assert target.read_text(encoding="utf-8") == reference_markdown()
    assert clean.exit_code == 0
    assert (ROOT / "docs" / "journeys.md").is_file()
