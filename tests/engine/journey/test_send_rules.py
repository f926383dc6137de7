"""Which recent sends a frequency cap counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.journey.send_rules import RecentSend, in_scope

AT = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.mark.parametrize(
    ("send", "scope", "counted"),
    [
        (RecentSend(AT, "other", None), "global", True),
        (RecentSend(AT, "other", None), "journey", False),
        (RecentSend(AT, "promo", None), "journey", True),
        (RecentSend(AT, "other", "promo"), "tag:promo", True),
        (RecentSend(AT, "promo", "newsletter"), "tag:promo", False),
        (RecentSend(AT, "promo", None), "tag:promo", False),
    ],
)
def test_scope(send, scope, counted):
    assert in_scope(send, scope, "promo") is counted
