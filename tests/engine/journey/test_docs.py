"""docs/journeys.md is generated from the spec types; the committed file must match them."""

from __future__ import annotations

from cli.journey_sim import reference_markdown
from engine.journey.conditions import CONDITION_KEYS
from engine.journey.spec import JourneySpec
from engine.journey.steps import STEP_TYPES
from tests.engine.journey.support import ROOT

DOCS = ROOT / "docs" / "journeys.md"


def test_committed_reference_matches_the_spec_types() -> None:
    generated = reference_markdown()

    assert DOCS.read_text(encoding="utf-8") == generated, (
        "docs/journeys.md is out of date: run `nurture journeys docs`"
    )


def test_reference_lists_every_key_step_kind_and_condition() -> None:
    text = reference_markdown()

    for name, field in JourneySpec.model_fields.items():
        assert f"| `{field.alias or name}` |" in text
    for step_type in STEP_TYPES:
        assert f"| `type` | `{step_type}` | yes |" in text
    for key in CONDITION_KEYS:
        assert f"| `{key}` |" in text


def test_the_reference_links_to_the_hand_written_guide() -> None:
    assert "(journey-dsl.md)" in reference_markdown()
