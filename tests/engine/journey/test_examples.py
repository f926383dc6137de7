"""The journeys shipped in journeys/ are valid, clean, and say what the design says."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from engine.journey import Catalog, validate_journey
from engine.journey.steps import BranchStep, SendEmailStep, WaitForStep
from engine.journey.triggers import EventTrigger
from tests.engine.journey.support import CATALOG, JOURNEYS

EXAMPLES = sorted(JOURNEYS.glob("*.yaml"))


def test_the_four_examples_are_shipped() -> None:
    assert {p.stem for p in EXAMPLES} >= {
        "b2b-lead-nurture",
        "abandoned-cart",
        "renewal-reminders",
        "seminar-followup-ja",
    }


@pytest.mark.parametrize("catalog", [CATALOG, Catalog()], ids=["full-catalog", "unchecked"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_has_no_findings(path: Path, catalog: Catalog) -> None:
    report = validate_journey(path.read_text(encoding="utf-8"), path.name, catalog)

    assert report.format() == ""
    assert report.spec is not None
    assert report.spec.id == path.stem


def _spec(name: str):
    report = validate_journey((JOURNEYS / name).read_text(encoding="utf-8"), name, CATALOG)
    assert report.spec is not None
    return report.spec


def test_b2b_example_reads_as_designed() -> None:
    spec = _spec("b2b-lead-nurture.yaml")

    assert spec.start == "welcome"
    assert spec.entry.cooldown == timedelta(days=90)
    assert spec.frequency_cap is not None and spec.frequency_cap.per == timedelta(days=7)
    opened = spec.steps["opened_welcome"]
    assert isinstance(opened, BranchStep)
    assert (opened.then, opened.else_) == ("case_study", "reminder")


def test_abandoned_cart_waits_four_hours_for_the_purchase() -> None:
    spec = _spec("abandoned-cart.yaml")

    wait = spec.steps["wait_purchase"]
    assert isinstance(wait, WaitForStep)
    assert wait.timeout == timedelta(hours=4)
    trigger = spec.triggers[0]
    assert isinstance(trigger, EventTrigger)
    assert trigger.key == ("properties.cart_id",)


def test_japanese_example_keeps_japanese_text_and_tokyo_fallback() -> None:
    spec = _spec("seminar-followup-ja.yaml")

    assert spec.name.startswith("セミナー参加者フォローアップ")
    assert spec.timezone.fallback == "Asia/Tokyo"
    assert spec.send_window is not None
    assert spec.send_window.days == ("mon", "tue", "wed", "thu", "fri")
    assert (spec.send_window.start, spec.send_window.end) == (time(9), time(18))
    thanks = spec.steps["thanks"]
    assert isinstance(thanks, SendEmailStep)
    assert "セミナーへのご参加ありがとうございました" in thanks.subject
    assert spec.defaults is not None and spec.defaults.send_email is not None
    sender = spec.defaults.send_email.from_
    assert sender is not None and sender.name == "株式会社ナーチャー セミナー事務局"
