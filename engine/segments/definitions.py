"""Segment definitions: read from ``journeys/segments/*.yaml``, checked, and stored.

The files are what marketers edit and review; ``nurture segments sync`` stores them in the
``segments`` table, which workers read. A definition whose condition changed is reconciled
over every contact by the next membership sweep (``reconciled_at`` is cleared).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import TypeAdapter
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.journey.conditions import Condition
from engine.journey.diagnostics import Diagnostic
from engine.journey.segment import SegmentSpec, load_segment
from engine.segments.errors import UnsupportedInSql
from engine.segments.sql import condition_sql
from engine.store.models import Segment, SegmentMembership

_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)

#: Findings only segment files can have; the rest are the journey loader's ``E1xx`` codes.
SEGMENT_CODES = {
    "S101": "the id differs from the file name",
    "S102": "the condition reads an enrollment or one event (entry, since: entry, prop "
    "outside an event's where), which a segment cannot",
}


@dataclass(frozen=True, slots=True)
class SegmentFile:
    """A segment file that passed every check, ready to store."""

    spec: SegmentSpec
    source: str
    condition: object
    checksum: str


@dataclass(slots=True)
class SyncReport:
    """What a sync changed, by segment id, and every finding that stopped a file."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Say whether every file was stored."""
        return not self.diagnostics


def segments_folder(journeys_dir: Path) -> Path:
    """Where segment files live: ``<journeys>/segments``."""
    return journeys_dir / "segments"


def read_segment(
    path: Path, *, name: str | None = None
) -> tuple[SegmentFile | None, list[Diagnostic]]:
    """Parse and check one file: schema, an id matching the file name, SQL-compilable."""
    filename = name or path.as_posix()
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [_problem(filename, 1, 1, "E100", "<document>", f"cannot read: {error}")]
    return parse_segment(source, filename, expected_id=path.stem)


def parse_segment(
    source: str, filename: str, *, expected_id: str | None = None
) -> tuple[SegmentFile | None, list[Diagnostic]]:
    """Check a segment's YAML text; ``expected_id`` is the file name's stem, when there is one."""
    loaded = load_segment(source, filename)
    spec = loaded.spec
    if spec is None:
        return None, list(loaded.diagnostics)
    problems = []
    if expected_id is not None and spec.id != expected_id:
        line, col = loaded.source_map.locate(("id",))
        problems.append(
            _problem(
                filename,
                line,
                col,
                "S101",
                "id",
                f"the id '{spec.id}' must match the file name '{expected_id}'",
            )
        )
    try:
        condition_sql(spec.condition, now=datetime(2000, 1, 1, tzinfo=UTC), dialect="postgresql")
    except UnsupportedInSql as error:
        line, col = loaded.source_map.locate(("condition",))
        problems.append(_problem(filename, line, col, "S102", "condition", str(error)))
    if problems:
        return None, problems
    data = _CONDITION.dump_python(spec.condition, mode="json", by_alias=True, exclude_none=True)
    checksum = hashlib.sha256(source.encode("utf-8")).hexdigest()
    return SegmentFile(spec, source, data, checksum), []


def read_segments(folder: Path) -> tuple[list[SegmentFile], list[Diagnostic]]:
    """Read every ``*.yaml`` in ``folder``, in name order; collect every file's findings."""
    files, diagnostics = [], []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        found, problems = read_segment(path)
        diagnostics.extend(problems)
        if found is not None:
            files.append(found)
    return files, diagnostics


def sync_segments(
    session: Session, folder: Path, *, now: datetime, prune: bool = False
) -> SyncReport:
    """Store the folder's segments; with ``prune``, delete stored ones no longer on disk.

    Nothing is stored when any file has a finding, so a typo never half-updates the set.
    """
    report = SyncReport()
    files, report.diagnostics = read_segments(folder)
    if report.diagnostics:
        return report
    stored = {s.id: s for s in session.scalars(select(Segment))}
    for found in files:
        outcome = store_segment(session, found, now=now, stored=stored.get(found.spec.id))
        getattr(report, outcome).append(found.spec.id)
    if prune:
        gone = sorted(stored.keys() - {f.spec.id for f in files})
        if gone:
            session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id.in_(gone)))
            session.execute(delete(Segment).where(Segment.id.in_(gone)))
        report.removed = gone
    session.flush()
    return report


def store_segment(
    session: Session,
    found: SegmentFile,
    *,
    now: datetime,
    stored: Segment | None = None,
) -> Literal["created", "updated", "unchanged"]:
    """Store one checked segment (``stored``: its row, if the caller has it loaded).

    A changed condition clears ``reconciled_at``, so the next sweep re-evaluates members.
    """
    spec = found.spec
    row = stored if stored is not None else session.get(Segment, spec.id)
    if row is None:
        session.add(
            Segment(
                id=spec.id,
                name=spec.name,
                description=spec.description,
                source=found.source,
                condition=found.condition,
                checksum=found.checksum,
                created_at=now,
                updated_at=now,
                reconciled_at=None,
            )
        )
        return "created"
    if row.checksum == found.checksum:
        return "unchanged"
    row.name, row.description, row.source = spec.name, spec.description, found.source
    row.condition, row.checksum, row.updated_at = found.condition, found.checksum, now
    row.reconciled_at = None
    return "updated"


def delete_segment(session: Session, segment_id: str) -> None:
    """Delete a stored segment and its memberships; raise NotFound naming it."""
    get_segment(session, segment_id)
    session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id == segment_id))
    session.execute(delete(Segment).where(Segment.id == segment_id))


class SegmentConditions:
    """Stored conditions parsed once per version (by checksum), shared by a process's threads."""

    def __init__(self) -> None:
        self._parsed: dict[str, Condition] = {}
        self._lock = threading.Lock()

    def all(self, session: Session) -> dict[str, Condition]:
        """Every stored segment's condition, by id."""
        rows = session.execute(select(Segment.id, Segment.checksum, Segment.condition))
        return {sid: self._condition(checksum, data) for sid, checksum, data in rows}

    def _condition(self, checksum: str, data: object) -> Condition:
        found = self._parsed.get(checksum)
        if found is None:
            found = _CONDITION.validate_python(data)
            with self._lock:
                self._parsed[checksum] = found
        return found


#: The process's cache; conditions never change under a checksum.
CONDITIONS = SegmentConditions()


def get_segment(session: Session, segment_id: str) -> Segment:
    """Return the stored segment; raise NotFound naming it."""
    row = session.get(Segment, segment_id)
    if row is None:
        raise NotFound(
            f"no segment {segment_id!r}; add journeys/segments/{segment_id}.yaml and sync"
        )
    return row


def _problem(filename: str, line: int, col: int, code: str, path: str, message: str) -> Diagnostic:
    return Diagnostic(filename, line, col, "error", code, path, message)


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    """A stored segment with its member count, for lists in the CLI and the admin UI."""

    id: str
    name: str
    description: str | None
    members: int
    updated_at: datetime
    reconciled_at: datetime | None


def segment_summaries(session: Session, *, only: str | None = None) -> list[SegmentSummary]:
    """Every stored segment (or ``only`` that one), by id, with how many contacts are in it."""
    counting = select(SegmentMembership.segment_id, func.count()).group_by(
        SegmentMembership.segment_id
    )
    segments = select(Segment).order_by(Segment.id)
    if only is not None:
        counting = counting.where(SegmentMembership.segment_id == only)
        segments = segments.where(Segment.id == only)
    counts = {segment_id: int(n) for segment_id, n in session.execute(counting)}
    return [
        SegmentSummary(
            s.id, s.name, s.description, counts.get(s.id, 0), s.updated_at, s.reconciled_at
        )
        for s in session.scalars(segments)
    ]
