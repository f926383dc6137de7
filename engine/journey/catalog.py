"""What a journey may refer to outside itself: templates, segments, topics, pools, hosts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from engine.journey.diagnostics import Finding, Path, did_you_mean

AttributeType = Literal["string", "number", "boolean", "date", "datetime", "list", "object"]


@dataclass(frozen=True, slots=True)
class Catalog:
    """Known names to check references against; ``None`` means "don't check this kind".

    ``attributes`` maps a contact attribute path (``subscription.end_date``) to its
    type, so conditions and date triggers can be type-checked when a schema exists.
    """

    templates: frozenset[str] | None = None
    segments: frozenset[str] | None = None
    topics: frozenset[str] | None = None
    pools: frozenset[str] | None = None
    webhook_hosts: frozenset[str] | None = None
    attributes: Mapping[str, AttributeType] | None = None

    def host_allowed(self, host: str) -> bool:
        """Say whether a webhook host is on the allowlist (``*.acme.io`` covers subdomains)."""
        if self.webhook_hosts is None:
            return True
        host = host.lower()
        for allowed in self.webhook_hosts:
            allowed = allowed.lower()
            if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
                return True
        return False


def unknown_name(
    known: frozenset[str] | None, name: str, *, code: str, path: Path, what: str
) -> Finding | None:
    """Return a finding when ``name`` is not among ``known`` (never when unchecked)."""
    if known is None or name in known:
        return None
    return Finding(code, path, f"unknown {what} '{name}'{did_you_mean(name, known)}")
