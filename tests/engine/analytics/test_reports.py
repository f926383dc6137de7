"""Revenue deciles, conversion rates and sales follow-up against hand-worked figures."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from engine.analytics import conversions, revenue_deciles, sales_by_rep
from engine.analytics.deciles import deciles_of
from tests.engine.analytics.shop import NOW, seed, seed_funnel

NAN = float("nan")


def test_twenty_customers_split_two_per_decile() -> None:
    totals = pd.DataFrame(
        {
            "contact_id": range(1, 21),
            "orders": [1] * 20,
            "revenue": [float(n) for n in range(1, 21)],
        }
    )
    frame = deciles_of(totals)
    assert frame["customers"].tolist() == [2] * 10
    assert frame["revenue"].tolist() == [39.0, 35.0, 31.0, 27.0, 23.0, 19.0, 15.0, 11.0, 7.0, 3.0]
    assert frame["cumulative_share"].iloc[-1] == 1.0
    assert frame["revenue_share"].iloc[0] == round(39 / 210, 4)


def test_deciles_of_nobody_is_an_empty_table() -> None:
    empty = pd.DataFrame({"contact_id": [], "orders": [], "revenue": []})
    assert deciles_of(empty).empty


def test_reports_over_the_shop(database) -> None:
    with database.unit_of_work() as session:
        ids = seed(session)
        seed_funnel(session, ids)
        deciles = revenue_deciles(session, now=NOW)
        journeys = conversions(session, by="journey", now=NOW)
        sources = conversions(session, by="source", now=NOW)
        stages = conversions(session, by="stage", now=NOW)
        sales = sales_by_rep(session, now=NOW)
    # Five customers: 鈴木 ¥100,000, 田中 ¥40,000, 山田 ¥25,000 (3 orders), 佐藤, 高橋.
    assert deciles.to_dict("list") == {
        "decile": [2, 4, 6, 8, 10],
        "customers": [1, 1, 1, 1, 1],
        "orders": [2, 2, 3, 1, 1],
        "revenue": [100000.0, 40000.0, 25000.0, 3000.0, 1000.0],
        "revenue_share": [0.5917, 0.2367, 0.1479, 0.0178, 0.0059],
        "cumulative_share": [0.5917, 0.8284, 0.9763, 0.9941, 1.0],
        "average_order_value": [50000.0, 20000.0, 8333.0, 3000.0, 1000.0],
    }
    assert journeys.to_dict("records") == [
        {
            "journey": "welcome",
            "entered": 4,
            "goal_reached": 2,
            "completed": 2,
            "goal_rate": 0.5,
            "completion_rate": 0.5,
        }
    ]
    assert sources.values.tolist() == [
        ["(none)", 3, 3, 1.0],
        ["メルマガ", 2, 1, 0.5],
        ["展示会", 1, 1, 1.0],
    ]
    assert stages[["stage", "reached", "advanced", "conversion_rate"]].values.tolist() == [
        ["subscriber", 0, 0, 0.0],
        ["lead", 4, 3, 0.75],
        ["mql", 3, 2, 0.6667],
        ["sql", 2, 1, 0.5],
        ["opportunity", 0, 0, 0.0],
    ]
    assert _plain(stages["median_days_to_advance"]) == [None, 10.0, 3.0, 8.0, None]
    assert sales.drop(columns="median_hours_to_accept").values.tolist() == [
        ["(all)", 5, 2, 1, 2, 0.4],
        ["(unassigned)", 1, 0, 0, 1, 0.0],
        ["kato@example.jp", 3, 2, 1, 0, 0.6667],
        ["mori@example.jp", 1, 0, 0, 1, 0.0],
    ]
    assert _plain(sales["median_hours_to_accept"]) == [3.0, None, 3.0, None]


def test_an_unknown_dimension_names_the_choices() -> None:
    with pytest.raises(ValueError, match="by: expected") as raised:
        conversions(Session(), by="country", now=NOW)  # type: ignore[arg-type]
    assert "journey, source, stage" in str(raised.value)


def _plain(values: pd.Series) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values]
