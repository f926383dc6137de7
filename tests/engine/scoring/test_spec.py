"""Scoring files: mistakes are reported with file, line and column, every one of them."""

from __future__ import annotations

import pytest

from engine.scoring.spec import load_scoring

CASES = [
    (
        "models:\n  default:\n    rules:\n      - {id: 料金, event: page_view, points: 0}\n",
        ["s.yaml:4:9: error[E102] models.default.rules[0]: value error, points is 0"],
    ),
    (
        "models:\n  default:\n    rules:\n      - {id: a, evnt: x, points: 2}\n",
        [
            "s.yaml:4:9: error[E103] models.default.rules[0].event: missing required key",
            "s.yaml:4:17: error[E101] models.default.rules[0].evnt: unknown key 'evnt' "
            "(did you mean 'event'?)",
        ],
    ),
    (
        "models:\n  default:\n    decay: {half_life: 1 month}\n",
        ["s.yaml:3:13: error[E106] models.default.decay.half_life"],
    ),
    (
        "models: {default: {}}\ngrade:\n  rules: [{attr: industry, points: 5}]\n"
        "  thresholds: {A: 10, B: 20, C: 5}\n",
        ["s.yaml:3:11: error[E102] grade.rules[0]: value error, give a test"],
    ),
    (
        "models: {default: {}}\nlifecycle:\n  mql: {score_at_least: 60, model: other}\n",
        ["error[E102] <document>: value error, lifecycle.mql.model 'other'"],
    ),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_findings_are_placed(source: str, expected: list[str]) -> None:
    loaded = load_scoring(source, "s.yaml")
    found = [d.format() for d in loaded.diagnostics]
    assert loaded.spec is None
    assert len(found) >= len(expected)
    for want in expected:
        assert any(want in line for line in found), (want, found)
