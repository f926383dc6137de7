"""API fixtures (keys, client) for the tracking tests."""

from tests.api.conftest import admin, client, key_for

__all__ = ["admin", "client", "key_for"]
