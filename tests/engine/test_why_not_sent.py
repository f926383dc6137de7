"""The explanation decided from facts: one case per first reason, table-driven."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from engine.contacts.why import EnrollmentFact, Facts, MessageFact, explain

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
BASE = Facts(
    template="seminar-thanks",
    topic="seminar",
    messages=(),
    suppressions={},
    subscriptions={"seminar": (True, NOW)},
    sending_steps=(("seminar-ja", "thanks"),),
    enrollments=(),
)


def _message(status: str, error: str | None = None) -> MessageFact:
    return MessageFact(
        status, error, NOW, NOW if status == "sent" else None, "seminar-ja", "thanks", None, 2, 1
    )


def _enrollment(status: str, step: str, reason: str | None = None) -> EnrollmentFact:
    return EnrollmentFact("seminar-ja", "thanks", status, step, NOW, reason, None)


@pytest.mark.parametrize(
    ("facts", "code", "words"),
    [
        (replace(BASE, messages=(_message("sent"),)), "sent", "opens 2, clicks 1"),
        (
            replace(BASE, messages=(_message("skipped", "frequency_cap"),)),
            "skipped",
            "frequency cap",
        ),
        (replace(BASE, messages=(_message("skipped", "no_consent"),)), "skipped", "no consent"),
        (replace(BASE, suppressions={"*": ("hard_bounce", NOW)}), "suppressed", "hard_bounce"),
        (replace(BASE, subscriptions={"seminar": (False, NOW)}), "unsubscribed", "seminar"),
        (replace(BASE, sending_steps=()), "no_journey", "no record"),
        (BASE, "never_enrolled", "seminar-ja"),
        (replace(BASE, enrollments=(_enrollment("waiting", "wait_1d"),)), "waiting", "wait_1d"),
        (
            replace(BASE, enrollments=(_enrollment("exited", "goal", "goal:registered"),)),
            "exited",
            "goal:registered",
        ),
    ],
)
def test_first_reason(facts: Facts, code: str, words: str) -> None:
    found = explain(facts)
    assert found.code == code
    assert words in found.reason


def test_a_message_outranks_a_later_suppression() -> None:
    facts = replace(BASE, messages=(_message("sent"),), suppressions={"*": ("complaint", NOW)})
    assert explain(facts).code == "sent"
