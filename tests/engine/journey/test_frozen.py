"""``evolve`` copies the core's frozen dataclasses exactly as ``dataclasses.replace`` does."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.journey import ContactView, EnrollmentState
from engine.journey.frozen import evolve
from engine.journey.state import WaitingOn

ENTERED = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
STATE = EnrollmentState(
    journey_id="契約更新",
    version=3,
    enrollment_id="42",
    contact_id="7",
    step="待機",
    entered_at=ENTERED,
    entry={"name": "signed_up", "properties": {"プラン": "pro"}},
    attempts={"待機": 1},
)
CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "step": st.text(max_size=5),
        "status": st.sampled_from(["active", "waiting", "exited"]),
        "steps_taken": st.integers(0, 99),
        "attempts": st.dictionaries(st.text(max_size=3), st.integers(1, 5), max_size=3),
        "goals": st.frozensets(st.text(max_size=3), max_size=3),
        "wake_at": st.none() | st.just(ENTERED),
        "waiting_on": st.none() | st.just(WaitingOn("待機", "email_opened", None, ENTERED)),
        "exit_reason": st.none() | st.text(max_size=5),
    },
)


@given(CHANGES)
def test_evolve_gives_what_replace_gives_and_leaves_the_original(changes):
    before = dataclasses.replace(STATE)
    assert evolve(STATE, **changes) == dataclasses.replace(STATE, **changes)
    assert before == STATE


def test_evolve_copies_views_and_keeps_them_frozen():
    view = ContactView(attributes={"姓": "山田", "名": "太郎"}, tags=frozenset({"VIP"}))
    copied = evolve(view, tags=view.tags | {"見込み客"})
    assert copied.attributes is view.attributes and copied.tags == {"VIP", "見込み客"}
    assert view.tags == {"VIP"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        copied.tags = frozenset()  # type: ignore[misc]


def test_evolve_refuses_an_unknown_field_and_a_class_it_cannot_copy():
    with pytest.raises(TypeError, match="stpe"):
        evolve(STATE, stpe="x")

    @dataclasses.dataclass
    class Mutable:
        a: int
        b: int

    with pytest.raises(TypeError, match="frozen dataclasses"):
        evolve(Mutable(1, 2), a=3)


@dataclasses.dataclass(frozen=True, slots=True)
class Slotted:
    name: str
    count: int = 0
    tags: frozenset[str] = frozenset()


@given(st.text(max_size=4), st.integers(0, 9), st.frozensets(st.text(max_size=3), max_size=2))
def test_evolve_copies_a_slotted_class_as_replace_does(name, count, tags):
    original = Slotted("山田", 1, frozenset({"見込み客"}))
    changes = {"name": name, "count": count, "tags": tags}
    for keys in (("name",), ("count", "tags"), ()):
        wanted = {k: changes[k] for k in keys}
        assert evolve(original, **wanted) == dataclasses.replace(original, **wanted)
    assert original == Slotted("山田", 1, frozenset({"見込み客"}))
    with pytest.raises(TypeError, match="nmae"):
        evolve(original, nmae="x")
