"""Fixtures: the loopback webhook receiver and settings that may reach it."""

from tests.engine.webhooks.support import open_settings, receiver

__all__ = ["open_settings", "receiver"]
