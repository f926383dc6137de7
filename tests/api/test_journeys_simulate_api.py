"""``POST /api/journeys/simulate``: the admin UI's "what would happen to this contact"."""

from __future__ import annotations

from pathlib import Path

JOURNEYS = Path(__file__).parents[2] / "journeys"
CART = (JOURNEYS / "abandoned-cart.yaml").read_text(encoding="utf-8")
CHECKOUT = {
    "type": "checkout_started",
    "occurred_at": "2026-06-15T10:00:00+09:00",
    "properties": {"cart_id": "c-1", "cart_value": 48, "item_count": 3},
}


def actions(body):
    return [(e["action"], e["step"]) for e in body["entries"]]


def test_simulating_yaml_for_a_contact_given_as_json(client, admin):
    contact = {
        "email": "aoi@example.jp",
        "last_name": "青井",
        "timezone": "Asia/Tokyo",
        "subscriptions": ["marketing_email"],
    }
    response = client.post(
        "/api/journeys/simulate",
        json={"source": CART, "contact": contact, "events": [CHECKOUT], "until": "7d"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["journey_id"] == "abandoned-cart"
    assert ("send_email", "reminder") in actions(body)
    reminder = next(e for e in body["entries"] if e["step"] == "reminder")
    assert reminder["at"].endswith("+09:00")  # the contact's own offset
    assert body["entries"] == sorted(body["entries"], key=lambda e: e["at"])


def test_simulating_a_deployed_journey_for_a_stored_contact(client, admin):
    deployed = client.post(
        "/api/journeys/deploy",
        json=[{"filename": "abandoned-cart.yaml", "source": CART}],
        headers=admin,
    )
    assert deployed.status_code == 200, deployed.text
    client.post(
        "/api/contacts",
        json={
            "email": "Ren@Example.jp",
            "timezone": "Asia/Tokyo",
            "consent": [{"topic": "marketing_email", "granted": True, "source": "form"}],
        },
        headers=admin,
    )
    with_consent = client.post(
        "/api/journeys/simulate",
        json={
            "journey_id": "abandoned-cart",
            "email": "REN@example.jp",
            "events": [CHECKOUT],
            "until": "7d",
        },
        headers=admin,
    )
    assert with_consent.status_code == 200, with_consent.text
    assert ("send_email", "reminder") in actions(with_consent.json())
    client.post(
        "/api/contacts/ren@example.jp/consent",
        json={"topic": "marketing_email", "granted": False, "source": "unsubscribe"},
        headers=admin,
    )
    without = client.post(
        "/api/journeys/simulate",
        json={
            "journey_id": "abandoned-cart",
            "email": "ren@example.jp",
            "events": [CHECKOUT],
            "until": "7d",
        },
        headers=admin,
    ).json()
    assert ("send_email", "reminder") not in actions(without)
    assert ("exit", "no_consent") in actions(without)


def test_bad_simulation_requests_name_the_problem(client, admin):
    broken = client.post(
        "/api/journeys/simulate",
        json={"source": CART.replace("start: wait_purchase", "start: nowhere"), "contact": {}},
        headers=admin,
    )
    assert broken.status_code == 422
    assert "E201" in broken.json()["error"]["fields"][0]["message"]
    unknown = client.post(
        "/api/journeys/simulate",
        json={"source": CART, "email": "nobody@example.jp", "events": [CHECKOUT]},
        headers=admin,
    )
    assert unknown.status_code == 404
    naive = client.post(
        "/api/journeys/simulate",
        json={
            "source": CART,
            "contact": {},
            "events": [{**CHECKOUT, "occurred_at": "2026-06-15T10:00:00"}],
        },
        headers=admin,
    )
    assert naive.status_code == 422
    assert "offset" in naive.json()["error"]["fields"][0]["message"]
    missing = client.post(
        "/api/journeys/simulate",
        json={"journey_id": "no-such-journey", "contact": {}},
        headers=admin,
    )
    assert missing.status_code == 404
