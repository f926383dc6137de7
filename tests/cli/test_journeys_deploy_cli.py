"""``nurture journeys deploy|diff|list|pause|resume|archive`` as a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.store.models import JourneyVersion
from tests.engine.deploy.support import EXAMPLE_IDS, WELCOME_V1, WELCOME_V2
from tests.engine.journey.support import JOURNEYS

NURTURE = str(Path(sys.executable).with_name("nurture"))


def run(cwd: Path, database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    if database is not None:
        env["NURTURE_DATABASE_URL"] = database.url
    env["COLUMNS"] = "250"  # keep Rich from wrapping the cells we look for
    return subprocess.run(
        [NURTURE, "journeys", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project folder holding the shipped journeys (no templates: those go unchecked)."""
    shutil.copytree(JOURNEYS, tmp_path / "journeys")
    return tmp_path


def versions(database) -> int:
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(JourneyVersion)) or 0


def rows(stdout: str) -> dict[str, list[str]]:
    """Table rows by their first cell."""
    found = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) > 2 and cells[0]:
            found[cells[0]] = cells[1:]
    return found


def test_deploy_stores_every_journey_once_and_a_rerun_changes_nothing(folder, database):
    first = run(folder, database, "deploy")
    second = run(folder, database, "deploy", "journeys")

    assert first.returncode == 0, first.stderr
    table = rows(first.stdout)
    assert {i: table[i][:3] for i in EXAMPLE_IDS} == {
        i: ["new → 1", "new", "active"] for i in EXAMPLE_IDS
    }
    assert "new journey" in table["abandoned-cart"][3]
    assert f"{len(EXAMPLE_IDS)} new versions stored" in first.stderr
    assert second.returncode == 0, second.stderr
    assert {rows(second.stdout)[i][1] for i in EXAMPLE_IDS} == {"unchanged"}
    assert "0 new versions stored" in second.stderr
    assert versions(database) == len(EXAMPLE_IDS)


def test_a_broken_file_prints_compiler_style_and_nothing_is_deployed(folder, database):
    (folder / "journeys" / "welcome.yaml").write_text(
        WELCOME_V1.replace("next: done", "next: donee"), encoding="utf-8"
    )

    result = run(folder, database, "deploy")

    assert result.returncode == 1
    assert (
        "journeys/welcome.yaml:12:75: error[E201] steps.remind.next: unknown step 'donee' "
        "(did you mean 'done'?)"
    ) in result.stderr
    assert "1 error in 1 file: nothing was deployed" in result.stderr
    assert result.stdout == ""
    assert versions(database) == 0


def test_dry_run_and_diff_show_changes_without_storing_them(tmp_path, database):
    (tmp_path / "w.yaml").write_text(WELCOME_V1, encoding="utf-8")
    assert run(tmp_path, database, "deploy", "w.yaml").returncode == 0
    (tmp_path / "w.yaml").write_text(WELCOME_V2 + "migrate: {remind: nudge}\n", encoding="utf-8")

    dry = run(tmp_path, database, "deploy", "--dry-run", "w.yaml")
    diff = run(tmp_path, database, "diff", "w.yaml")

    assert dry.returncode == 0, dry.stderr
    assert rows(dry.stdout)["welcome-series"][:3] == ["1 → 2", "changed", "active"]
    assert "dry run: nothing stored" in dry.stdout
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines() == [
        "welcome-series: v1 → v2",
        "  + step nudge (send_email)",
        "  - step remind (send_email)",
        "  ~ step wait_2d (wait): next",
        "  → migrate remind → nudge",
    ]
    assert versions(database) == 1


def test_removing_a_step_without_migrate_fails_deploy_and_diff(tmp_path, database):
    (tmp_path / "w.yaml").write_text(WELCOME_V1, encoding="utf-8")
    run(tmp_path, database, "deploy", "w.yaml")
    (tmp_path / "w.yaml").write_text(WELCOME_V2, encoding="utf-8")

    deploy = run(tmp_path, database, "deploy", "w.yaml")
    diff = run(tmp_path, database, "diff", "w.yaml")

    assert deploy.returncode == 1
    assert "w.yaml:9:1: error[E501] steps: step 'remind' of version 1 is gone" in deploy.stderr
    assert diff.returncode == 1
    assert "welcome-series: has errors, a deploy would refuse it" in diff.stdout


def test_list_pause_resume_archive(tmp_path, database):
    (tmp_path / "w.yaml").write_text(WELCOME_V1, encoding="utf-8")
    run(tmp_path, database, "deploy", "w.yaml", "--by", "hanako")

    paused = run(tmp_path, database, "pause", "welcome-series")
    listed = run(tmp_path, database, "list")
    resumed = run(tmp_path, database, "resume", "welcome-series")
    archived = run(tmp_path, database, "archive", "welcome-series")
    refused = run(tmp_path, database, "resume", "welcome-series")
    unknown = run(tmp_path, database, "pause", "welcome-serie")

    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.strip() == "welcome-series: active → paused"
    assert rows(listed.stdout)["welcome-series"][:5] == [
        "Welcome series",
        "paused",
        "1",
        "1",
        rows(listed.stdout)["welcome-series"][4],
    ]
    assert rows(listed.stdout)["welcome-series"][4].endswith("UTC")
    assert resumed.stdout.strip() == "welcome-series: paused → active"
    assert archived.stdout.strip() == "welcome-series: active → archived"
    assert refused.returncode == 1
    assert "error: journey 'welcome-series' is archived and cannot be resumed" in refused.stderr
    assert unknown.returncode == 1
    assert "no journey 'welcome-serie' (did you mean 'welcome-series'?)" in unknown.stderr


def test_embedded_mode_creates_its_database_on_first_deploy(folder):
    deployed = run(folder, None, "deploy")
    listed = run(folder, None, "list", "--status", "active")

    assert deployed.returncode == 0, deployed.stderr
    assert (folder / "var" / "nurture.db").is_file()
    assert set(EXAMPLE_IDS) <= set(rows(listed.stdout))


def test_an_empty_folder_is_exit_2_and_a_missing_one_is_unreadable(tmp_path, database):
    (tmp_path / "journeys").mkdir()

    empty = run(tmp_path, database, "deploy")
    missing = run(tmp_path, database, "deploy", "nowhere")

    assert empty.returncode == 2
    assert "no journey files found in journeys" in empty.stderr
    assert missing.returncode == 1
    assert "nowhere:1:1: error[E100] <document>: cannot read: No such file" in missing.stderr
