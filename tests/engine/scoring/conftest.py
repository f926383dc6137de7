"""Fixtures: the loopback webhook receiver a CRM stands in for."""

from tests.engine.webhooks.support import receiver

__all__ = ["receiver"]
