"""``nurture bounces parse`` and ``import`` as a user types them, in a fresh folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli import main
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Bounce, Suppression
from tests.engine.bounces.mail import arf, japanese_text_bounce


def test_parse_prints_verdicts_and_import_applies_them_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bounce = tmp_path / "docomo.eml"
    bounce.write_bytes(japanese_text_bounce("jiro@docomo.example.ne.jp"))
    complaint = tmp_path / "fbl.eml"
    complaint.write_bytes(arf("hanako@example.jp"))
    env = {"NURTURE_VAR_DIR": str(tmp_path / "var")}
    runner = CliRunner()

    parsed = runner.invoke(main.app, ["bounces", "parse", "--json", str(bounce), str(complaint)])
    table = runner.invoke(main.app, ["bounces", "parse", str(bounce)])
    missing = runner.invoke(main.app, ["bounces", "parse", str(tmp_path / "nope.eml")])
    imported = runner.invoke(main.app, ["bounces", "import", str(bounce), str(bounce)], env=env)

    assert parsed.exit_code == 0, parsed.output
    rows = [json.loads(line) for line in parsed.output.splitlines()]
    assert [(r["recipient"], r["kind"]) for r in rows] == [
        ("jiro@docomo.example.ne.jp", "hard"),
        ("hanako@example.jp", "complaint"),
    ]
    assert "存在しません" in rows[0]["diagnostic"]
    assert "jiro@docomo.example.ne.jp  hard" in table.output
    assert missing.exit_code == 1 and "nope.eml" in missing.output
    assert imported.exit_code == 0, imported.output
    first, second = imported.output.splitlines()
    assert "1 recorded" in first and "jiro@docomo.example.ne.jp (hard_bounce)" in first
    assert "0 recorded, 1 already known" in second
    database = Database.from_settings(Settings(var_dir=tmp_path / "var", _env_file=None))
    with database.sessions() as session:
        assert session.scalars(select(Bounce.recipient)).all() == ["jiro@docomo.example.ne.jp"]
        assert session.scalar(select(Suppression.reason)) == "hard_bounce"
    database.dispose()
