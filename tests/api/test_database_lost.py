"""A request that meets a connection the server dropped answers 503 with Retry-After.

PostgreSQL really drops every connection of the test database (``pg_terminate_backend``),
as a restart does; the next request is served on fresh connections.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.conftest import POSTGRES_URL


def _drop_connections(url: str) -> int:
    name = make_url(url).database
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return int(
                connection.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            )
    finally:
        admin.dispose()


def test_a_dropped_connection_answers_503_then_recovers(client, database, key_for):
    if database.dialect != "postgresql":
        pytest.skip("SQLite has no server to lose")
    headers = key_for("admin")
    contact = {"email": "yamada.taro@example.jp", "last_name": "山田", "first_name": "太郎"}
    assert client.post("/api/contacts", json=contact, headers=headers).status_code in (200, 201)
    assert _drop_connections(database.url) >= 1

    lost = client.get("/api/contacts/yamada.taro@example.jp", headers=headers)
    assert lost.status_code == 503, lost.text
    assert lost.headers["retry-after"] == "1"
    assert lost.json()["error"]["code"] == "database_unavailable"

    again = client.get("/api/contacts/yamada.taro@example.jp", headers=headers)
    assert again.status_code == 200
    assert again.json()["last_name"] == "山田"
