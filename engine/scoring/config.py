"""The scoring file on disk and in force: checked, stored by ``nurture scoring sync``, cached.

Workers read the stored copy, not the disk, so every process scores by the same rules and
a typo on disk never reaches them (sync refuses a file with findings).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.journey.diagnostics import Diagnostic
from engine.scoring.spec import ScoringSpec, load_scoring
from engine.store.models import ScoringConfig

CURRENT = "current"
FILE_NAME = "scoring.yaml"


def scoring_file(journeys_dir: Path) -> Path:
    """Where the scoring file lives: ``<journeys>/scoring/scoring.yaml``.

    A folder of its own, because every ``*.yaml`` directly in ``journeys/`` is a journey.
    """
    return journeys_dir / "scoring" / FILE_NAME


def read_scoring(path: Path) -> tuple[ScoringSpec | None, list[Diagnostic], str]:
    """Read and check a scoring file; return the spec (None on findings), findings, text."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem = Diagnostic(
            path.as_posix(), 1, 1, "error", "E100", "<document>", f"cannot read: {error}"
        )
        return None, [problem], ""
    loaded = load_scoring(source, path.as_posix())
    return loaded.spec, list(loaded.diagnostics), source


@dataclass(frozen=True, slots=True)
class Synced:
    """What a sync did: stored the file (``changed``) or found it the same."""

    changed: bool
    checksum: str


def store_scoring(session: Session, source: str, *, now: datetime) -> Synced:
    """Store checked scoring text as the one in force."""
    checksum = hashlib.sha256(source.encode("utf-8")).hexdigest()
    row = session.get(ScoringConfig, CURRENT)
    if row is not None and row.checksum == checksum:
        return Synced(False, checksum)
    if row is None:
        session.add(ScoringConfig(key=CURRENT, source=source, checksum=checksum, updated_at=now))
    else:
        row.source, row.checksum, row.updated_at = source, checksum, now
    session.flush()
    return Synced(True, checksum)


class _Cache:
    """Parsed specs by checksum: a worker parses the file once, not once per batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, ScoringSpec] = {}

    def cached(self, checksum: str) -> ScoringSpec | None:
        with self._lock:
            return self._specs.get(checksum)

    def get(self, checksum: str, source: str) -> ScoringSpec | None:
        found = self.cached(checksum)
        if found is not None:
            return found
        spec = load_scoring(source, "stored scoring.yaml").spec
        if spec is not None:
            with self._lock:
                self._specs = {checksum: spec}  # one file is in force at a time
        return spec


_CACHE = _Cache()


def active_scoring(session: Session) -> ScoringSpec | None:
    """Return the stored scoring spec, or None when none was synced.

    Each event batch asks: the checksum is read every time (another process may have
    synced a new file), the source only when this process has not parsed that version.
    """
    current = ScoringConfig.key == CURRENT
    checksum = session.scalar(select(ScoringConfig.checksum).where(current))
    if checksum is None:
        return None
    found = _CACHE.cached(checksum)
    if found is not None:
        return found
    source = session.scalar(select(ScoringConfig.source).where(current))
    return _CACHE.get(checksum, source) if source is not None else None
