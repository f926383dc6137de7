"""Every shipped example journey has scenario files, and every scenario passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.journey_sim import Scenario, find_scenarios, load_scenarios, run_scenario
from tests.engine.journey.support import JOURNEYS

SCENARIO_FILES = find_scenarios([JOURNEYS / "tests"])
SCENARIOS = [s for path in SCENARIO_FILES for s in load_scenarios(path)]


def test_every_example_journey_has_a_scenario_file() -> None:
    covered = {s.journey.resolve() for s in SCENARIOS if s.journey is not None}

    assert {p.resolve() for p in JOURNEYS.glob("*.yaml")} <= covered
    assert len(covered) >= 7


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.file.stem}::{s.name}")
def test_scenario_passes(scenario: Scenario) -> None:
    outcome = run_scenario(scenario)

    assert outcome.passed, "\n".join(outcome.problems)


def test_a_wrong_expectation_fails_with_the_closest_entries(tmp_path: Path) -> None:
    original = (JOURNEYS / "tests" / "abandoned-cart.test.yaml").read_text(encoding="utf-8")
    broken = original.replace('at: "2026-06-16T08:00:00-04:00"', 'at: "2026-06-16T07:00:00-04:00"')
    assert broken != original
    path = tmp_path / "cart.test.yaml"
    path.write_text(broken.replace("../abandoned-cart.yaml", str(JOURNEYS / "abandoned-cart.yaml")))

    outcomes = [run_scenario(s) for s in load_scenarios(path)]

    failed = [o for o in outcomes if not o.passed]
    assert len(failed) == 1
    problem = failed[0].problems[0]
    assert "expect[4] {action: send_email, step: reminder, at: 2026-06-16T11:00:00+00:00" in problem
    assert "closest entries: " in problem
    assert "2026-06-16T08:00:00-04:00 reminder send_email cart-reminder" in problem
