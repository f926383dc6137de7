"""Admin UI fixtures: the real app on each test database, users, and signing in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from admin.app import create_app
from admin.mailbox import mount_landing
from engine.auth import users
from engine.auth.apikeys import create_api_key
from engine.auth.users import create_user
from engine.clock import utcnow
from engine.settings import Settings
from engine.store.db import Database

PASSWORD = "correct horse battery 馬"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash test passwords with argon2id at its lowest cost: same code path, milliseconds."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def ui(settings: Settings, database: Database) -> Iterator[TestClient]:
    """A browser-like client on the whole app (cookies kept between requests)."""
    app = create_app(settings, database)
    mount_landing(app, settings)
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def make_user(database: Database) -> Callable[..., str]:
    """Create a user with ``PASSWORD``; return their email."""

    def make(
        email: str = "hanako@example.jp",
        role: str = "marketer",
        locale: str = "ja",
        family_name: str | None = "佐藤",
        given_name: str | None = "花子",
    ) -> str:
        with database.unit_of_work() as session:
            create_user(
                session,
                email=email,
                role=role,
                password=PASSWORD,
                now=utcnow(),
                locale=locale,
                family_name=family_name,
                given_name=given_name,
            )
        return email

    return make


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in a page."""
    found = _CSRF.search(html)
    assert found is not None, "no csrf field in the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a browser does."""
    form = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf": csrf_of(form.text), "next": "/admin/"},
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def key_for(database: Database) -> Callable[..., dict[str, str]]:
    """Make an API key with the given scopes; return its Authorization header."""

    def make(*scopes: str) -> dict[str, str]:
        with database.unit_of_work() as session:
            key = create_api_key(session, name="test", scopes=list(scopes), now=utcnow())
        return {"Authorization": f"Bearer {key}"}

    return make
