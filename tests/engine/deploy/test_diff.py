"""The structural diff between two versions, pure: no database."""

from __future__ import annotations

from engine.deploy.diff import diff_specs
from engine.journey import JourneySpec, validate_journey
from tests.engine.deploy.support import CATALOG, WELCOME_V1, WELCOME_V2


def spec(text: str) -> JourneySpec:
    report = validate_journey(text, "w.yaml", CATALOG)
    assert report.spec is not None, report.format()
    return report.spec


def test_a_new_journey_lists_every_step_as_added():
    diff = diff_specs(None, spec(WELCOME_V1))

    assert diff.new_journey
    assert [c.step for c in diff.added] == ["welcome", "wait_2d", "remind", "done"]
    assert diff.summary() == "new journey, 4 steps"


def test_steps_added_removed_changed_settings_and_migrate_read_as_lines():
    after = WELCOME_V2.replace("event: signed_up", "event: registered") + (
        "migrate:\n  remind: nudge\n"
    )

    diff = diff_specs(spec(WELCOME_V1), spec(after))

    assert diff.lines() == [
        "+ step nudge (send_email)",
        "- step remind (send_email)",
        "~ step wait_2d (wait): next",
        "~ triggers",
        "→ migrate remind → nudge",
    ]
    assert diff.summary() == "+1 step, -1 step, ~1 step; triggers changed; migrate 1"
    assert diff.to_json()["steps_changed"] == [
        {"step": "wait_2d", "type": "wait", "fields": ["next"]}
    ]


def test_key_order_and_the_version_label_are_not_changes():
    reordered = WELCOME_V1.replace("version: 1", "version: 9").replace(
        "{type: wait, duration: 2d, next: remind}", "{next: remind, duration: 2d, type: wait}"
    )

    diff = diff_specs(spec(WELCOME_V1), spec(reordered))

    assert diff.empty
    assert diff.lines() == ["no structural change (comments or layout)"]
