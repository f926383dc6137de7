"""Published journey versions, compiled once per process and kept while the process lives."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.journey import CompiledJourney, compile_journey, validate_journey
from engine.store.models import JourneyVersion


class CompiledJourneys:
    """A thread-safe cache of compiled versions; a version never changes once published.

    The stored YAML is the source of truth: it is validated again (without the catalog,
    which was checked at deploy) rather than trusting a serialised spec.
    """

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, int], CompiledJourney] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, journey_id: str, version: int) -> CompiledJourney:
        """Return the compiled version; raise NotFound if it was never published."""
        key = (journey_id, version)
        found = self._compiled.get(key)
        if found is not None:
            return found
        source = session.scalar(
            select(JourneyVersion.source).where(
                JourneyVersion.journey_id == journey_id, JourneyVersion.version == version
            )
        )
        if source is None:
            raise NotFound(f"journey {journey_id} has no version {version}")
        report = validate_journey(source, f"{journey_id}@v{version}")
        if report.spec is None:
            raise NotFound(
                f"journey {journey_id} v{version} no longer validates: {report.format()}"
            )
        compiled = compile_journey(report.spec)
        with self._lock:
            return self._compiled.setdefault(key, compiled)
