"""Every invalid fixture yields exactly the diagnostics in its ``.expected`` sidecar."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.journey import load_journey, validate_journey
from engine.journey.diagnostics import CODES
from tests.engine.journey.support import CATALOG, INVALID, ROOT

FIXTURES = sorted(p for p in INVALID.glob("*.yaml") if not p.name.endswith(".previous.yaml"))


def _previous(fixture: Path):
    sidecar = fixture.with_name(fixture.stem + ".previous.yaml")
    if not sidecar.exists():
        return None
    loaded = load_journey(sidecar.read_text(encoding="utf-8"), sidecar.name)
    assert loaded.spec is not None, loaded.diagnostics
    return loaded.spec


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_fixture_reports_exactly_its_expected_diagnostics(fixture: Path) -> None:
    expected = fixture.with_suffix(".expected").read_text(encoding="utf-8").splitlines()

    report = validate_journey(
        fixture.read_text(encoding="utf-8"), fixture.name, CATALOG, previous=_previous(fixture)
    )

    assert report.format().splitlines() == expected


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_fixture_is_named_for_a_code_it_reports(fixture: Path) -> None:
    code = fixture.name.split("-")[0]
    report = validate_journey(
        fixture.read_text(encoding="utf-8"), fixture.name, CATALOG, previous=_previous(fixture)
    )

    assert code in {d.code for d in report.diagnostics}
    assert report.spec is None or code.startswith("W")


def test_every_code_has_a_fixture() -> None:
    covered = {p.name.split("-")[0] for p in FIXTURES}

    assert set(CODES) - covered == set()


def test_every_code_is_documented_with_an_example() -> None:
    docs = (ROOT / "docs" / "journey-dsl.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#### ([EW]\d{3})\b", docs, flags=re.MULTILINE))

    assert documented == set(CODES)
