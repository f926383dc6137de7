"""``nurture journeys``: validate and schema, through Typer's test runner.

Lives beside the journey tests because it only exercises the journey sub-app.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.journeys import app, catalog_from_disk
from tests.engine.journey.support import INVALID, JOURNEYS

runner = CliRunner()


@pytest.fixture
def journeys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "journeys"
    shutil.copytree(JOURNEYS, folder)
    (folder / "segments").mkdir(exist_ok=True)
    (folder / "segments" / "not-a-journey.yaml").write_text("garbage: [\n", encoding="utf-8")
    monkeypatch.setenv("NURTURE_JOURNEYS_DIR", str(folder))
    monkeypatch.setenv("NURTURE_TEMPLATES_DIR", str(tmp_path / "templates"))
    return folder


def test_validate_defaults_to_the_journeys_dir_and_skips_segments(journeys: Path) -> None:
    result = runner.invoke(app, ["validate"])

    assert result.exit_code == 0, result.output
    assert "8 journeys checked: 0 errors, 0 warnings" in result.stderr
    assert result.stdout == ""


def test_validate_prints_compiler_style_and_fails(journeys: Path) -> None:
    bad = INVALID / "E201-unknown-step.yaml"

    result = runner.invoke(app, ["validate", str(bad)])

    assert result.exit_code == 1
    assert (
        f"{bad}:10:69: error[E201] steps.welcome.next: unknown step 'reminderr' "
        "(did you mean 'reminder'?)"
    ) in result.stderr
    assert "1 journey checked: 1 error, 0 warnings" in result.stderr


def test_validate_json(journeys: Path) -> None:
    bad = INVALID / "E202-unknown-template.yaml"

    result = runner.invoke(app, ["validate", "--json", str(bad), str(journeys)])

    assert result.exit_code == 0  # the template catalog is unchecked: no template files
    assert json.loads(result.stdout) == []


def test_templates_on_disk_make_the_catalog(journeys: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "welcome.mjml").write_text("<mjml/>", encoding="utf-8")
    (templates / "README.md").write_text("notes", encoding="utf-8")
    bad = INVALID / "E202-unknown-template.yaml"

    result = runner.invoke(app, ["validate", "--json", str(bad)])

    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)
    assert finding["code"] == "E202"
    assert finding["message"] == "unknown template 'welcme' (did you mean 'welcome'?)"
    assert catalog_from_disk(journeys, templates).templates == frozenset({"welcome"})


def test_segments_on_disk_make_the_catalog(journeys: Path, tmp_path: Path) -> None:
    catalog = catalog_from_disk(journeys, tmp_path / "none")

    assert catalog.segments == frozenset({"not-a-journey", "hot-leads"})
    assert catalog.templates is None


def test_missing_file_is_reported(journeys: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])

    assert result.exit_code == 1
    assert "error[E100] <document>: cannot read" in result.stderr


def test_empty_folder_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NURTURE_JOURNEYS_DIR", str(tmp_path))

    result = runner.invoke(app, ["validate"])

    assert result.exit_code == 2
    assert "no journey files found" in result.stderr


def test_schema_prints_and_writes(tmp_path: Path) -> None:
    printed = runner.invoke(app, ["schema"])
    target = tmp_path / "journey.schema.json"
    written = runner.invoke(app, ["schema", "--output", str(target)])

    assert printed.exit_code == 0
    assert json.loads(printed.stdout)["title"] == "Nurture journey (journey/v1)"
    assert written.exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(printed.stdout)
