"""RFM scoring: the pure class map and quintiles, then scores stored and used by segments."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from pydantic import TypeAdapter
from sqlalchemy import func, select

from engine.analytics import (
    RFM_CLASSES,
    compute_rfm,
    refresh_rfm_if_due,
    rfm_class,
    score_rfm,
    store_rfm,
)
from engine.analytics.purchases import PurchaseSource
from engine.analytics.rfm import quintile
from engine.journey import ContactView
from engine.journey.conditions import Condition
from engine.journey.needs import NOTHING, ViewNeeds
from engine.journey.predicates import compile_condition
from engine.runtime.views import load_views
from engine.segments import count_matching, sample_matching
from engine.store.models import RfmScore
from tests.engine.analytics.shop import NOW, seed

load_condition = TypeAdapter(Condition).validate_python


@pytest.mark.parametrize(
    ("r", "fm", "expected"),
    [
        (5, 5, "champions"), (5, 4, "champions"), (4, 5, "loyal"), (3, 4, "loyal"),
        (5, 3, "potential_loyalists"), (4, 2, "potential_loyalists"), (5, 1, "new"),
        (4, 1, "promising"), (3, 3, "needs_attention"), (3, 2, "about_to_sleep"),
        (3, 1, "about_to_sleep"), (2, 3, "at_risk"), (1, 4, "at_risk"), (2, 5, "cannot_lose"),
        (1, 5, "cannot_lose"), (2, 2, "hibernating"), (2, 1, "hibernating"),
        (1, 2, "hibernating"), (1, 1, "lost"),
    ],
)  # fmt: skip
def test_every_cell_of_the_grid_has_its_class(r: int, fm: int, expected: str) -> None:
    assert rfm_class(r, fm) == expected


def test_the_grid_reaches_all_eleven_classes_and_nothing_else() -> None:
    seen = {rfm_class(r, fm) for r in range(1, 6) for fm in range(1, 6)}
    assert seen == set(RFM_CLASSES)
    assert len(RFM_CLASSES) == 11


def test_an_unknown_class_is_refused_by_the_condition_language() -> None:
    with pytest.raises(ValueError, match="rfm") as raised:
        load_condition({"rfm": ["champions", "vip"]})
    assert "champions" in str(raised.value)


def test_scores_outside_one_to_five_are_refused() -> None:
    with pytest.raises(ValueError, match="r=0 fm=3") as raised:
        rfm_class(0, 3)
    assert "1 to 5" in str(raised.value)


def test_tied_values_share_a_quintile() -> None:
    # Ranks average over ties: three 1s rank 2 of 6 (33%) → 2; 2 ranks 4 → 4; 5 and 9 → 5, 5.
    scores = quintile(pd.Series([1, 1, 1, 2, 5, 9]))
    assert scores.tolist() == [2, 2, 2, 4, 5, 5]
    assert quintile(pd.Series([10, 20, 30, 40, 50])).tolist() == [1, 2, 3, 4, 5]


def test_no_customers_score_to_an_empty_table() -> None:
    totals = pd.DataFrame(
        {
            "contact_id": pd.Series(dtype="int64"),
            "orders": pd.Series(dtype="int64"),
            "revenue": pd.Series(dtype="float64"),
            "last_purchase_at": pd.Series(dtype="datetime64[ns, UTC]"),
        }
    )
    assert score_rfm(totals, now=NOW).empty


def test_yen_purchases_score_classes_and_segments_select_them(database) -> None:
    with database.unit_of_work() as session:
        ids = seed(session)
        scores = compute_rfm(session, now=NOW)
        stored = store_rfm(session, scores, now=NOW)
    by_name = {name: ids[name] for name in ("山田", "佐藤", "鈴木", "高橋", "田中")}
    expected = pd.DataFrame(
        [
            (by_name["山田"], 1, 3, 25000.0, 5, 5, 3, "champions"),
            (by_name["佐藤"], 5, 1, 3000.0, 4, 2, 2, "potential_loyalists"),
            (by_name["鈴木"], 30, 2, 100000.0, 3, 4, 5, "loyal"),
            (by_name["高橋"], 200, 1, 1000.0, 1, 2, 1, "hibernating"),
            (by_name["田中"], 90, 2, 40000.0, 2, 4, 4, "at_risk"),
        ],
        columns=["contact_id", "recency_days", "frequency", "monetary", "r", "f", "m", "class"],
    )
    pd.testing.assert_frame_equal(scores, expected, check_dtype=False)
    assert stored == 5
    condition = load_condition({"rfm": ["champions", "at_risk"]})
    with database.unit_of_work() as session:
        assert session.get(RfmScore, by_name["鈴木"]).rfm_class == "loyal"
        # Journeys see the stored class only when one of their conditions reads it.
        yamada = by_name["山田"]
        assert load_views(session, [yamada], now=NOW, needs=ViewNeeds(rfm=True))[yamada].rfm == (
            "champions"
        )
        assert load_views(session, [yamada], now=NOW, needs=NOTHING)[yamada].rfm is None
        assert count_matching(session, condition, NOW) == 2
        members = sample_matching(session, condition, NOW, 10)
        assert count_matching(session, load_condition({"rfm": "lost"}), NOW) == 0
        # The daily job leaves fresh scores alone; a day later it replaces every row.
        assert refresh_rfm_if_due(session, now=NOW + timedelta(hours=23)) is None
        assert refresh_rfm_if_due(session, now=NOW + timedelta(days=1)) == 5
        assert session.scalar(select(func.count()).select_from(RfmScore)) == 5
    assert members == sorted([by_name["山田"], by_name["田中"]])
    predicate = compile_condition(condition)
    assert predicate(ContactView(rfm="at_risk"), now=NOW)
    assert not predicate(ContactView(rfm="loyal"), now=NOW)
    assert not predicate(ContactView(), now=NOW)


def test_a_usd_report_keeps_cents_and_counts_unlabelled_purchases(database) -> None:
    # A purchase without a currency counts in the report's currency (a one-currency shop).
    with database.unit_of_work() as session:
        ids = seed(session)
        scores = compute_rfm(session, now=NOW, source=PurchaseSource(currency="usd"))
    yamada = scores.set_index("contact_id").loc[ids["山田"]]
    assert (yamada["frequency"], yamada["monetary"]) == (4, 25049.99)
