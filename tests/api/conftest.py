"""HTTP through the real ASGI app (httpx over ASGI), against each test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from admin.app import create_app
from engine.auth.apikeys import create_api_key
from engine.clock import utcnow
from engine.settings import Settings
from engine.store.db import Database


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database)) as test_client:
        yield test_client


@pytest.fixture
def key_for(database: Database) -> Callable[..., dict[str, str]]:
    """Make an API key with the given scopes; returns the Authorization header."""

    def make(*scopes: str, user_id: int | None = None) -> dict[str, str]:
        with database.unit_of_work() as session:
            key = create_api_key(
                session,
                name="test " + ",".join(scopes),
                scopes=list(scopes),
                now=utcnow(),
                user_id=user_id,
            )
        return {"Authorization": f"Bearer {key}"}

    return make


@pytest.fixture
def admin(key_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    return key_for("admin")
