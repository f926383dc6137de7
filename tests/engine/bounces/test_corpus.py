"""Agreement with Sisimai's labels over 310 real bounces (``/work/shared/data/bounces``).

The floors guard against regressions at the agreement reached today; the goal is 95%
hard/soft and 98% recipient (see docs/bounces.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.bounces import DEFAULT_CORPUS
from engine.bounces.corpus import score

CORPUS = Path(os.environ.get("NURTURE_BOUNCE_CORPUS", DEFAULT_CORPUS))
RECIPIENT_FLOOR = 0.96
KIND_FLOOR = 0.92


@pytest.mark.skipif(not (CORPUS / "labels.jsonl").exists(), reason="bounce corpus not present")
def test_verdicts_agree_with_the_reference_labels() -> None:
    agreement = score(CORPUS)

    print(agreement.summary())  # shown with pytest -s
    assert agreement.results > 300
    assert agreement.recipient_rate >= RECIPIENT_FLOOR, "\n".join(agreement.misses)
    assert agreement.kind_rate >= KIND_FLOOR, "\n".join(agreement.misses)
    assert agreement.other_rate >= 0.8, "\n".join(agreement.misses)
