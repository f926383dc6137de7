"""Relays asked for while one runs are folded into one more round, never lost."""

from __future__ import annotations

import threading

import pytest

from workers.relay import Coalesced


def test_calls_during_a_round_make_exactly_one_more_round():
    started = threading.Event()
    release = threading.Event()
    rounds: list[int] = []

    def action() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            started.set()
            assert release.wait(5)

    coalesced = Coalesced(action)
    first = threading.Thread(target=coalesced)
    first.start()
    assert started.wait(5)
    for _ in range(5):  # five requests finish while the first round runs
        coalesced()
    assert rounds == [0]  # none of them ran a round of its own
    release.set()
    first.join(5)
    assert rounds == [0, 1]  # one more round covers all five
    coalesced()
    assert rounds == [0, 1, 2]  # idle again: a call runs at once


def test_a_failed_round_does_not_block_the_next_call():
    calls = []

    def action() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("broker down")

    coalesced = Coalesced(action)
    with pytest.raises(RuntimeError):
        coalesced()
    coalesced()
    assert len(calls) == 2
