"""Published journey versions, compiled once per process and kept while the process lives."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.journey import CompiledJourney, compile_journey, validate_journey
from engine.journey.entry import EntryRules
from engine.journey.listening import wake_events
from engine.store.models import Journey, JourneyVersion


def require_journey(session: Session, journey_id: str) -> None:
    """Raise NotFound unless the journey was deployed (in any status)."""
    if session.scalar(select(Journey.id).where(Journey.id == journey_id)) is None:
        raise NotFound(f"no deployed journey {journey_id!r}")


@dataclass(frozen=True, slots=True)
class Published:
    """One published version, ready to run: its plan conditions, entry rules, wake events."""

    compiled: CompiledJourney
    entry: EntryRules
    wakes_on: frozenset[str]


class CompiledJourneys:
    """A thread-safe cache of published versions; a version never changes once published.

    The stored YAML is the source of truth: it is validated again (without the catalog,
    which was checked at deploy) rather than trusting a serialised spec.
    """

    def __init__(self) -> None:
        self._published: dict[tuple[str, int], Published] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, journey_id: str, version: int) -> CompiledJourney:
        """Return the compiled version; raise NotFound if it was never published."""
        return self.published(session, journey_id, version).compiled

    def published(self, session: Session, journey_id: str, version: int) -> Published:
        """Return the version with its entry rules; raise NotFound if it was never published."""
        key = (journey_id, version)
        found = self._published.get(key)
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
        # The stored number is the version; the file's ``version:`` is only its author's label.
        spec = report.spec.model_copy(update={"version": version})
        published = Published(compile_journey(spec), EntryRules(spec), wake_events(spec))
        with self._lock:
            return self._published.setdefault(key, published)
