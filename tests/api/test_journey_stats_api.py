"""``GET /api/journeys/{id}/stats``: per-step counts after real routing and stepping."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from engine.clock import utcnow
from engine.runtime.journeys import CompiledJourneys
from engine.runtime.service import process_events
from engine.store.models import Event

CART = (Path(__file__).parents[2] / "journeys" / "abandoned-cart.yaml").read_text(encoding="utf-8")


def test_stats_count_entered_and_waiting_per_step(client, admin, database):
    assert (
        client.post(
            "/api/journeys/deploy", json=[{"filename": "cart.yaml", "source": CART}], headers=admin
        ).status_code
        == 200
    )
    for n, value in enumerate([40, 55, 5]):  # the 5 cart is under the trigger's where
        client.post(
            "/api/events",
            json={
                "type": "checkout_started",
                "email": f"buyer{n}@example.jp",
                "properties": {"cart_id": f"c{n}", "cart_value": value},
            },
            headers=admin,
        )
    with database.unit_of_work() as session:
        ids = list(session.scalars(select(Event.id)))
        process_events(
            session,
            ids,
            now=utcnow(),
            journeys=CompiledJourneys(),
            message_domain="mail.example.jp",
        )
    response = client.get("/api/journeys/abandoned-cart/stats", headers=admin)
    assert response.status_code == 200
    rows = {(r["version"], r["step"]): r for r in response.json()}
    assert rows[(1, "wait_purchase")]["entered"] == 2
    assert rows[(1, "wait_purchase")]["waiting"] == 2
    assert client.get("/api/journeys/abandoned-carts/stats", headers=admin).status_code == 404
