"""``nurture scoring`` and ``nurture handoffs`` as a user types them, in a fresh folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli import main
from engine.clock import utcnow
from engine.events.schemas import EventIn
from engine.events.service import ingest_events
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.service import process_events
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Contact, Handoff
from tests.cli.test_access_cli import run

NOW = utcnow()
EXAMPLE = Path(__file__).parents[2] / "journeys" / "scoring" / "scoring.yaml"


def test_check_sync_explain_and_reject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "journeys" / "scoring"
    folder.mkdir(parents=True)
    (folder / "scoring.yaml").write_text(
        "models:\n  default:\n    rules:\n      - {id: a, evnt: x, points: 2}\n"
    )
    bad = run(tmp_path, "scoring", "check")
    assert bad.returncode == 1
    assert (
        "journeys/scoring/scoring.yaml:4:17: error[E101] models.default.rules[0].evnt" in bad.stderr
    )

    shutil.copy(EXAMPLE, folder / "scoring.yaml")
    monkeypatch.chdir(tmp_path)  # the rest runs in-process, as a user in this folder
    env = {"NURTURE_VAR_DIR": str(tmp_path / "var")}
    synced = CliRunner().invoke(main.app, ["scoring", "sync"], env=env)
    assert synced.exit_code == 0, synced.output
    assert "scoring stored" in synced.output

    settings = Settings(var_dir=tmp_path / "var", _env_file=None)
    database = Database.from_settings(settings)
    with database.unit_of_work() as session:
        events = [
            EventIn(
                type="page_view", email="taro.yamada@example.jp", properties={"path": "/pricing"}
            ),
            EventIn(
                type="form_submitted",
                email="taro.yamada@example.jp",
                properties={"form": "demo-request"},
            ),
        ]
        ids = [i for i in ingest_events(session, events, now=NOW).event_ids if i]
        process_events(
            session,
            ids,
            now=NOW,
            journeys=CompiledJourneys(),
            message_domain="example.jp",
        )
    database.dispose()

    explained = CliRunner().invoke(
        main.app, ["scoring", "explain", "Taro.Yamada@example.jp"], env=env
    )
    assert explained.exit_code == 0, explained.output
    lines = explained.output.splitlines()
    assert lines[0] == "taro.yamada@example.jp: score 40 (default), grade D, stage subscriber"
    assert "demo_request: デモ依頼フォーム送信" in lines[1]
    assert "pricing_page: 料金ページを閲覧" in lines[2]

    with database.unit_of_work() as session:  # a lead handed to sales by hand
        contact = session.scalars(select(Contact)).one()
        contact.lifecycle_stage = "mql"
        session.add(Handoff(contact_id=contact.id, status="assigned", brief={}, created_at=NOW))
    database.dispose()
    listed = CliRunner().invoke(main.app, ["handoffs", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "assigned    taro.yamada@example.jp" in listed.output
    rejected = CliRunner().invoke(
        main.app, ["handoffs", "reject", "1", "--reason", "学生のため"], env=env
    )
    assert (rejected.exit_code, rejected.output.strip()) == (0, "handoff 1 rejected")
    again = CliRunner().invoke(main.app, ["handoffs", "accept", "1"], env=env)
    assert again.exit_code == 1
    assert "already answered (rejected)" in again.output
