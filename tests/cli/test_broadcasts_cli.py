"""``nurture broadcasts`` as a user types it, in a fresh folder (embedded mode)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from cli.main import app
from tests.engine.broadcasts.people import PLAIN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``nurture broadcasts ...`` in-process, in a fresh folder (embedded mode)."""
    for name in [k for k in os.environ if k.startswith("NURTURE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("NURTURE_TEMPLATES_DIR", str(ROOT / "templates"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["broadcasts", *args])


def test_create_send_show_cancel(tmp_path: Path, run: Callable[..., Result]) -> None:
    (tmp_path / "autumn_news.yaml").write_text(PLAIN, encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(PLAIN.replace("tag: vip", "tag: vip, segment: x"), "utf-8")

    bad = run("create", "bad.yaml")
    created = run("create", "autumn_news.yaml")
    sent = run("send", "autumn_news", "--at", "2026-12-10T10:00:00+09:00")
    shown = run("show", "autumn_news")
    cancelled = run("cancel", "autumn_news")
    listed = run("list")

    assert bad.exit_code == 1
    assert bad.output.startswith("bad.yaml:6:11: error[E102] audience:"), bad.output
    assert created.output.strip() == "autumn_news: draft", created.output
    assert sent.output.strip() == "autumn_news: scheduled for 2026-12-10T10:00:00+09:00"
    view = json.loads(shown.output)
    assert (view["name"], view["status"], view["audience"]) == (
        "秋のお知らせ",
        "scheduled",
        {"tag": "vip"},
    )
    assert cancelled.exit_code == 0
    assert "cancelled" in listed.output
