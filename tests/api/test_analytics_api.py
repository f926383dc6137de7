"""``/api/analytics``: reports as JSON rows and as CSV, through the real ASGI app."""

from __future__ import annotations

import csv
import io

from tests.engine.analytics.shop import NOW, seed, seed_funnel

AS_OF = {"as_of": NOW.isoformat()}


def test_reports_answer_json_and_csv(client, database, key_for) -> None:
    with database.unit_of_work() as session:
        ids = seed(session)
        seed_funnel(session, ids)
    sales = key_for("sales")
    rfm = client.get("/api/analytics/rfm", params=AS_OF, headers=sales)
    assert rfm.status_code == 200, rfm.text
    body = rfm.json()
    assert body["columns"][-1] == "class"
    assert {r["contact_id"]: r["class"] for r in body["rows"]}[ids["山田"]] == "champions"

    deciles = client.get("/api/analytics/deciles", params={**AS_OF, "format": "csv"}, headers=sales)
    assert deciles.headers["content-type"].startswith("text/csv")
    assert 'filename="deciles.csv"' in deciles.headers["content-disposition"]
    assert deciles.content.startswith("\ufeff".encode())  # Excel reads UTF-8 by the BOM
    rows = list(csv.DictReader(io.StringIO(deciles.text.lstrip("\ufeff"))))
    assert [r["revenue"] for r in rows] == ["100000.0", "40000.0", "25000.0", "3000.0", "1000.0"]

    sources = client.get(
        "/api/analytics/conversions", params={**AS_OF, "by": "source"}, headers=sales
    ).json()
    assert sources["rows"][1] == {
        "source": "メルマガ", "contacts": 2, "customers": 1, "conversion_rate": 0.5,
    }  # fmt: skip

    reps = client.get("/api/analytics/sales", params=AS_OF, headers=sales).json()["rows"]
    mori = next(r for r in reps if r["rep"] == "mori@example.jp")
    assert mori["median_hours_to_accept"] is None  # no acceptance: null, not NaN


def test_bad_parameters_and_missing_keys_are_refused(client, key_for) -> None:
    sales = key_for("sales")
    by = client.get("/api/analytics/conversions", params={"by": "country"}, headers=sales)
    currency = client.get("/api/analytics/rfm", params={"currency": "円"}, headers=sales)
    anonymous = client.get("/api/analytics/sales")
    assert by.status_code == 422
    assert "by" in by.text
    assert currency.status_code == 422
    assert anonymous.status_code == 401
