"""The loader: positions, duplicate keys, YAML 1.1 booleans, and never raising."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.journey import load_journey, validate_journey
from tests.engine.journey.support import CATALOG, JOURNEYS

HEADER = """dsl: journey/v1
id: loader-test
name: Loader test
version: 1
triggers:
  - event: signed_up
defaults: {send_email: {from: {name: Acme, email: hello@acme.io}}}
"""
STEPS = """start: welcome
steps:
  welcome:
    type: send_email
    template: welcome
    subject: Hi
    next: done
  done: {type: exit}
"""


def test_valid_document_loads_to_a_spec() -> None:
    loaded = load_journey(HEADER + STEPS, "ok.yaml")

    assert loaded.diagnostics == ()
    assert loaded.spec is not None
    assert list(loaded.spec.steps) == ["welcome", "done"]


def test_source_map_points_at_keys_and_values() -> None:
    loaded = load_journey(HEADER + STEPS, "ok.yaml")
    positions = loaded.source_map

    assert positions.locate(("steps", "welcome", "next")) == (14, 11)
    assert positions.locate(("steps", "welcome", "next"), at_key=True) == (14, 5)
    assert positions.locate(("steps", "welcome")) == (10, 3)  # block mapping: its key
    assert positions.locate(("steps", "done", "type")) == (15, 16)
    assert positions.locate(("triggers", 0, "event")) == (6, 12)
    assert positions.locate(("steps", "welcome", "nope", "deeper")) == (10, 3)


def test_every_duplicate_key_is_reported_with_its_first_line() -> None:
    text = HEADER.replace("version: 1\n", "version: 1\nversion: 2\n") + STEPS.replace(
        "    next: done\n", "    next: done\n    next: welcome\n"
    )

    loaded = load_journey(text, "dup.yaml")

    assert [d.format() for d in loaded.diagnostics] == [
        "dup.yaml:5:1: error[E105] version: duplicate key 'version' "
        "(first written on line 4); YAML would silently keep only one",
        "dup.yaml:16:5: error[E105] steps.welcome.next: duplicate key 'next' "
        "(first written on line 15); YAML would silently keep only one",
    ]
    assert loaded.spec is None


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "NO", "On", "OFF"])
def test_bare_yaml11_boolean_as_exit_is_flagged(word: str) -> None:
    text = HEADER + STEPS.replace("next: done", f"next: {word}")

    report = validate_journey(text, "b.yaml", CATALOG)

    assert [(d.code, d.path) for d in report.diagnostics] == [("E104", "steps.welcome.next")]


@pytest.mark.parametrize("quoted", ['"yes"', "'no'"])
def test_quoted_yaml11_word_is_text(quoted: str) -> None:
    text = HEADER + STEPS.replace("next: done", f"next: {quoted}")

    report = validate_journey(text, "q.yaml", CATALOG)

    codes = [d.code for d in report.diagnostics]
    assert "E104" not in codes
    assert codes[0] == "E201"
    assert report.diagnostics[0].message.startswith("unknown step ")


def test_real_boolean_where_text_is_expected() -> None:
    text = HEADER + STEPS.replace("subject: Hi", "subject: true")

    report = validate_journey(text, "t.yaml", CATALOG)

    assert [d.format() for d in report.diagnostics] == [
        "t.yaml:13:14: error[E104] steps.welcome.subject: "
        "got the boolean true where text is expected; quote it"
    ]


def test_segment_trigger_when_on_is_flagged() -> None:
    text = HEADER.replace("  - event: signed_up", "  - segment: trial_users\n    when: on") + STEPS

    report = validate_journey(text, "w.yaml", CATALOG)

    assert [(d.code, d.path, d.line, d.col) for d in report.diagnostics] == [
        ("E104", "triggers[0].when", 7, 11)
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "found an empty file"),
        ("- a\n- b\n", "found a CommentedSeq"),
        ("just text\n", "found a str"),
        ("a: 1\n---\nb: 2\n", "YAML syntax"),
        ("a: [1, 2\n", "YAML syntax"),
        ("a: 'unterminated\n", "YAML syntax"),
    ],
)
def test_unusable_documents_are_e100(text: str, message: str) -> None:
    loaded = load_journey(text, "x.yaml")

    assert [d.code for d in loaded.diagnostics] == ["E100"]
    assert message in loaded.diagnostics[0].message


def test_unquoted_dates_are_read_as_text() -> None:
    text = HEADER + STEPS.replace(
        "  done: {type: exit}", "  done: {type: exit, reason: 2025-01-31}"
    )

    loaded = load_journey(text, "d.yaml")

    assert loaded.spec is not None
    assert loaded.spec.steps["done"].reason == "2025-01-31"  # type: ignore[union-attr]


def test_schema_errors_all_come_back_at_once() -> None:
    text = """dsl: journey/v1
id: X
version: 0
triggers: []
start: welcome
steps:
  welcome: {type: send_email, tempalte: welcome, subject: Hi, next: done}
  wait: {type: wait, duration: 3 days, next: done}
  done: {type: exit, colour: red}
"""

    loaded = load_journey(text, "many.yaml")

    assert [(d.code, d.path) for d in loaded.diagnostics] == [
        ("E103", "name"),
        ("E102", "id"),
        ("E102", "version"),
        ("E102", "triggers"),
        ("E103", "steps.welcome.template"),
        ("E101", "steps.welcome.tempalte"),
        ("E106", "steps.wait.duration"),
        ("E101", "steps.done.colour"),
    ]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("ab: -\n{}[],'\"#&*!|>?\tセ")), max_size=80))
def test_loader_never_raises_on_arbitrary_text(text: str) -> None:
    loaded = load_journey(text, "fuzz.yaml")

    assert loaded.spec is None or loaded.diagnostics == ()


EXAMPLE_LINES = (JOURNEYS / "b2b-lead-nurture.yaml").read_text(encoding="utf-8").splitlines()


@settings(max_examples=60, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=len(EXAMPLE_LINES) - 1), max_size=4))
def test_validator_never_raises_when_lines_go_missing(dropped: set[int]) -> None:
    text = "\n".join(line for i, line in enumerate(EXAMPLE_LINES) if i not in dropped)

    report = validate_journey(text, "mutant.yaml", CATALOG)

    assert report.ok == (report.spec is not None)
    for diagnostic in report.diagnostics:
        assert diagnostic.line >= 1
        assert diagnostic.col >= 1


def test_merge_keys_are_followed() -> None:
    text = (
        HEADER
        + """start: welcome
steps:
  welcome: &mail {type: send_email, template: welcome, subject: Hi, next: other}
  other:
    <<: *mail
    subject: Again
    next: done
  done: {type: exit}
"""
    )

    loaded = load_journey(text, "merge.yaml")

    assert loaded.diagnostics == ()
    assert loaded.spec is not None
    assert loaded.spec.steps["other"].template == "welcome"  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: " + "[" * 500 + "]" * 500 + "\n"])
def test_pathological_yaml_is_reported_not_raised(text: str) -> None:
    report = validate_journey(text, "odd.yaml", CATALOG)

    assert not report.ok
