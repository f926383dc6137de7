"""Sticky splits: same contact, same path; weights honoured; assignments recorded and kept."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.journey import Exit, plan
from engine.journey.steps.split import choose, sticky_bucket
from tests.engine.journey.test_planner_support import NOW, enter, journey, only, yamada

SPLIT = """\
start: test
steps:
  test:
    type: split
    {sticky}
    paths:
      - {{name: 割引, weight: {a}, next: discount}}
      - {{name: 事例, weight: {b}, next: story}}
      - {{name: 対照群, weight: {c}, next: holdout}}
  discount: {{type: exit, reason: discount}}
  story: {{type: exit, reason: story}}
  holdout: {{type: exit, reason: holdout}}
"""
STICKY = journey(SPLIT.format(sticky="sticky: contact", a=70, b=20, c=10))
PER_ENROLLMENT = journey(SPLIT.format(sticky="", a=50, b=30, c=20))

ids = st.text(min_size=1, max_size=40)


def path_of(spec: object, contact_id: str, enrollment_id: str = "enr-1") -> str:
    state = enter(spec, contact_id=contact_id, enrollment_id=enrollment_id)  # type: ignore[arg-type]
    return str(only(plan(spec, state, yamada(), NOW), Exit).reason)  # type: ignore[arg-type]


@given(ids, ids, ids)
def test_a_contact_always_takes_the_same_path(contact: str, first: str, second: str) -> None:
    assert path_of(STICKY, contact, first) == path_of(STICKY, contact, second)


@given(ids, ids)
def test_without_sticky_the_enrollment_decides(enrollment: str, other_contact: str) -> None:
    assert path_of(PER_ENROLLMENT, "c-1", enrollment) == path_of(
        PER_ENROLLMENT, other_contact, enrollment
    )


def test_the_assignment_is_recorded_and_kept_even_if_weights_change() -> None:
    state = enter(STICKY, contact_id="contact-佐藤")
    first = plan(STICKY, state, yamada(), NOW)
    chosen = first.state.assignments["test"]
    others = [p for p in ("割引", "事例", "対照群") if p != chosen]
    pinned = dataclasses.replace(state, assignments={"test": others[0]})

    again = plan(STICKY, pinned, yamada(), NOW)

    assert chosen in ("割引", "事例", "対照群")
    assert again.state.assignments["test"] == others[0]
    assert "assigned earlier" in again.trace[0].why


def test_weights_are_honoured_over_many_contacts() -> None:
    counts = Counter(path_of(STICKY, f"contact-{n}") for n in range(4000))

    assert counts["discount"] / 4000 == pytest.approx(0.70, abs=0.03)
    assert counts["story"] / 4000 == pytest.approx(0.20, abs=0.03)
    assert counts["holdout"] / 4000 == pytest.approx(0.10, abs=0.03)


def test_the_bucket_depends_on_journey_step_and_contact() -> None:
    base = sticky_bucket("abandoned-cart", "offer_test", "contact-1")

    assert base == sticky_bucket("abandoned-cart", "offer_test", "contact-1")
    assert base != sticky_bucket("renewal-reminders", "offer_test", "contact-1")
    assert base != sticky_bucket("abandoned-cart", "other_test", "contact-1")
    assert base != sticky_bucket("abandoned-cart", "offer_test", "contact-2")


@given(ids, ids, ids)
def test_buckets_are_in_range(journey_id: str, salt: str, key: str) -> None:
    assert 0 <= sticky_bucket(journey_id, salt, key) < 100


@settings(max_examples=50)
@given(st.text(min_size=1, max_size=8))
def test_buckets_are_uniform(prefix: str) -> None:
    buckets = [sticky_bucket("j", "s", f"{prefix}-{n}") for n in range(2000)]
    deciles = Counter(int(b // 10) for b in buckets)

    assert all(abs(deciles[d] - 200) < 80 for d in range(10)), deciles


@given(
    st.lists(st.integers(0, 100), min_size=2, max_size=6).filter(lambda w: sum(w) > 0),
    st.floats(0, 100, exclude_max=True),
)
def test_choose_picks_the_band_holding_the_bucket(weights: list[int], bucket: float) -> None:
    scale = 100 / sum(weights)
    scaled = [w * scale for w in weights]

    index = choose(bucket, scaled)

    assert scaled[index] > 0  # a zero-weight path is never taken
    low = sum(scaled[:index])
    assert low <= bucket + 1e-9
    assert bucket < low + scaled[index] or index == max(i for i, w in enumerate(scaled) if w > 0)


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [(0.0, 0), (69.999, 0), (70.0, 1), (89.99, 1), (90.0, 2), (99.9999, 2)],
)
def test_choose_bands(bucket: float, expected: int) -> None:
    assert choose(bucket, [70, 20, 10]) == expected
