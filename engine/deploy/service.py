"""Versioned deploy and the journey lifecycle, as set work over the journey tables.

A deploy is planned, then applied. ``plan_deploy`` validates every file against the
journey's active version (so removing a step needs a ``migrate:`` entry, E501) and decides
per journey: new, changed (a new version, with a structural diff), unchanged (same content
hash as the newest stored version) or invalid. ``apply_deploy`` stores the new immutable
versions and activates them, all or nothing: one error anywhere and nothing is written.

Version numbers are the store's: 1, 2, 3... per journey, one per content change. The YAML's
``version:`` is the author's label; a deploy warns (W501) when it does not move ahead of
what is stored, since two different files then claim the same number.

Running enrollments stay pinned to the version they entered; a new version that declares
``migrate: {old_step: new_step}`` moves the previous version's enrollments waiting on
``old_step`` to ``new_step`` of the new version (one UPDATE per entry).

Functions take a session and never commit: the caller owns the unit of work.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import and_, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from engine.deploy.diff import JourneyDiff, diff_specs, spec_json
from engine.errors import Conflict, FieldProblem, InvalidInput, NotFound
from engine.journey import (
    Catalog,
    Diagnostic,
    Finding,
    JourneySpec,
    load_journey,
    validate_journey,
)
from engine.store.models import Enrollment, Journey, JourneyVersion
from engine.store.types import Json, merge_patch

ChangeKind = Literal["new", "changed", "unchanged", "invalid"]
JourneyStatus = Literal["draft", "active", "paused", "archived"]
LIVE_ENROLLMENT = Enrollment.status != "exited"
"""Enrollments still in a journey: ``active`` (ready to run) or ``waiting``."""

DEPLOY_CODES: dict[str, str] = {
    "W501": "the file's version does not move ahead of the newest stored version",
    "E502": "two files of one deploy define the same journey id",
    "E503": "an archived journey cannot take new versions",
}
"""Findings only a deploy can make (it needs the store); the rest come from validation."""


class InvalidJourneys(InvalidInput):
    """Raised when a deploy holding any file with errors is applied; ``diagnostics`` has all."""

    code = "invalid_journey"

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        errors = [d for d in diagnostics if d.severity == "error"]
        files = len({d.file for d in errors})
        super().__init__(
            f"{len(errors)} error{'s' * (len(errors) != 1)} in {files} "
            f"file{'s' * (files != 1)}; nothing was deployed",
            problems=[
                FieldProblem(f"{d.file}:{d.line}:{d.col}", f"error[{d.code}] {d.path}: {d.message}")
                for d in errors
            ],
        )
        self.diagnostics = tuple(diagnostics)


def content_hash(source: str) -> str:
    """Return the sha256 (hex) of the source's UTF-8 bytes: what "unchanged" means."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


# -- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedJourney:
    """What a deploy would do with one file.

    ``version`` is the number this deploy stores (new and changed only); ``active_version``
    and ``latest_version`` are what the store held when planned (None: not stored yet).
    """

    filename: str
    source: str
    checksum: str
    kind: ChangeKind
    diagnostics: tuple[Diagnostic, ...]
    journey_id: str | None = None
    name: str | None = None
    status: str | None = None
    active_version: int | None = None
    latest_version: int | None = None
    version: int | None = None
    spec: JourneySpec | None = None
    diff: JourneyDiff | None = None

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """Return the error-level findings."""
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def ok(self) -> bool:
        """Say whether this file may be deployed (warnings allowed)."""
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict for the admin UI."""
        return {
            "filename": self.filename,
            "journey_id": self.journey_id,
            "name": self.name,
            "change": self.kind,
            "status": self.status,
            "active_version": self.active_version,
            "version": self.version,
            "checksum": self.checksum,
            "diff": self.diff.to_json() if self.diff else None,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


@dataclass(frozen=True, slots=True)
class DeployPlan:
    """What a deploy of some files would do, journey by journey, in the order given."""

    journeys: tuple[PlannedJourney, ...]

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Return every finding of every file."""
        return tuple(d for j in self.journeys for d in j.diagnostics)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """Return every error-level finding."""
        return tuple(d for j in self.journeys for d in j.errors)

    @property
    def ok(self) -> bool:
        """Say whether the deploy may be applied: no file has an error."""
        return all(j.ok for j in self.journeys)

    @property
    def changes(self) -> tuple[PlannedJourney, ...]:
        """Return the journeys that would get a new version."""
        return tuple(j for j in self.journeys if j.kind in ("new", "changed"))


@dataclass(frozen=True, slots=True)
class _Stored:
    """A stored journey with its active and newest versions."""

    journey: Journey
    active: JourneyVersion | None
    latest: JourneyVersion | None


def plan_deploy(
    session: Session, files: Sequence[tuple[str, str]], catalog: Catalog | None = None
) -> DeployPlan:
    """Validate ``(path, text)`` files against the store and say what a deploy would change.

    Reads only. Every file is checked, including unchanged ones (a template may have gone).
    """
    ids = [_journey_id(text, path) for path, text in files]
    stored = _load_stored(session, {i for i in ids if i is not None})
    seen: dict[str, str] = {}
    planned = []
    for (path, text), journey_id in zip(files, ids, strict=True):
        current = stored.get(journey_id) if journey_id else None
        planned.append(_plan_file(path, text, journey_id, current, catalog, seen))
    return DeployPlan(tuple(planned))


def _journey_id(text: str, filename: str) -> str | None:
    header = load_journey(text, filename).header
    return header.id if header is not None else None


def _plan_file(
    path: str,
    text: str,
    journey_id: str | None,
    current: _Stored | None,
    catalog: Catalog | None,
    seen: dict[str, str],
) -> PlannedJourney:
    previous = _stored_spec(current.active) if current and current.active else None
    report = validate_journey(text, path, catalog, previous=previous)
    checksum = content_hash(text)
    extra: list[Finding] = []
    if journey_id is not None and journey_id in seen:
        extra.append(
            Finding(
                "E502", ("id",), f"journey '{journey_id}' is also defined in {seen[journey_id]}"
            )
        )
    elif journey_id is not None:
        seen[journey_id] = path
    journey = current.journey if current else None
    latest = current.latest if current else None
    unchanged = latest is not None and latest.checksum == checksum
    archived = journey is not None and journey.status == "archived"
    if archived and not unchanged:
        extra.append(
            Finding(
                "E503",
                ("id",),
                f"journey '{journey_id}' is archived and takes no new versions; "
                "give the changed journey a new id",
            )
        )
    next_version = (latest.version + 1) if latest else 1
    spec = report.spec
    if spec is not None and not (unchanged or archived) and latest and spec.version < next_version:
        extra.append(
            Finding(
                "W501",
                ("version",),
                f"the file says version {spec.version} but version {latest.version} is stored; "
                f"this deploy stores it as version {next_version} (bump 'version' to match)",
            )
        )
    diagnostics = report.diagnostics
    if extra:
        source_map = load_journey(text, path).source_map
        diagnostics = tuple(
            sorted(
                (*diagnostics, *(source_map.place(f, path) for f in extra)),
                key=lambda d: (d.line, d.col, d.code),
            )
        )
    common: dict[str, Any] = {
        "filename": path,
        "source": text,
        "checksum": checksum,
        "diagnostics": diagnostics,
        "journey_id": journey_id,
        "status": journey.status if journey else None,
        "active_version": journey.active_version if journey else None,
        "latest_version": latest.version if latest else None,
    }
    if spec is None or any(d.severity == "error" for d in diagnostics):
        return PlannedJourney(kind="invalid", name=spec.name if spec else None, **common)
    if unchanged:
        return PlannedJourney(kind="unchanged", name=spec.name, spec=spec, **common)
    return PlannedJourney(
        kind="changed" if journey else "new",
        name=spec.name,
        version=next_version,
        spec=spec,
        diff=diff_specs(previous, spec),
        **common,
    )


def _load_stored(session: Session, ids: Iterable[str]) -> dict[str, _Stored]:
    ids = sorted(ids)
    if not ids:
        return {}
    journeys = {j.id: j for j in session.scalars(select(Journey).where(Journey.id.in_(ids)))}
    newest = (
        select(JourneyVersion.journey_id, func.max(JourneyVersion.version).label("version"))
        .where(JourneyVersion.journey_id.in_(ids))
        .group_by(JourneyVersion.journey_id)
        .subquery()
    )
    latest = {
        v.journey_id: v
        for v in session.scalars(
            select(JourneyVersion).join(
                newest,
                and_(
                    JourneyVersion.journey_id == newest.c.journey_id,
                    JourneyVersion.version == newest.c.version,
                ),
            )
        )
    }
    active = {
        v.journey_id: v
        for v in session.scalars(
            select(JourneyVersion)
            .join(
                Journey,
                and_(
                    Journey.id == JourneyVersion.journey_id,
                    Journey.active_version == JourneyVersion.version,
                ),
            )
            .where(Journey.id.in_(ids))
        )
    }
    return {i: _Stored(j, active.get(i), latest.get(i)) for i, j in journeys.items()}


def load_stored_spec(spec: Mapping[str, object], source: str, label: str) -> JourneySpec | None:
    """Rebuild a stored version's spec from its JSON, else from its YAML (None if neither loads)."""
    try:
        return JourneySpec.model_validate(spec)
    except ValidationError:
        return load_journey(source, label).spec


def _stored_spec(version: JourneyVersion) -> JourneySpec:
    """Rebuild a stored version's spec from its JSON, or from its source if the JSON is stale."""
    try:
        return JourneySpec.model_validate(version.spec)
    except ValidationError:
        spec = load_journey(version.source, f"{version.journey_id} v{version.version}").spec
        if spec is None:
            raise InvalidInput(
                f"stored version {version.version} of journey '{version.journey_id}' "
                "no longer loads; deploy a fixed file with a migrate map"
            ) from None
        return spec


# -- applying ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeployedJourney:
    """What a deploy did with one journey; ``version`` is the active version afterwards."""

    journey_id: str
    name: str
    filename: str
    kind: Literal["new", "changed", "unchanged"]
    previous_version: int | None
    version: int | None
    status: str
    summary: str
    migrated: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "journey_id": self.journey_id,
            "name": self.name,
            "filename": self.filename,
            "change": self.kind,
            "previous_version": self.previous_version,
            "version": self.version,
            "status": self.status,
            "summary": self.summary,
            "enrollments_migrated": self.migrated,
        }


@dataclass(frozen=True, slots=True)
class DeployResult:
    """Every journey of an applied deploy, in the order of the files."""

    journeys: tuple[DeployedJourney, ...]

    @property
    def deployed(self) -> tuple[DeployedJourney, ...]:
        """Return the journeys that got a new version."""
        return tuple(j for j in self.journeys if j.kind != "unchanged")


def apply_deploy(
    session: Session, plan: DeployPlan, *, now: datetime, published_by: str
) -> DeployResult:
    """Store and activate the plan's new versions and migrate enrollments; all or nothing.

    Raises InvalidJourneys (nothing written) when any file has errors, and Conflict when the
    store moved on since planning (another deploy got there first): plan again.
    """
    if not plan.ok:
        raise InvalidJourneys(plan.diagnostics)
    changes = plan.changes
    _check_still_current(session, changes)
    results: dict[str, DeployedJourney] = {}
    for change in changes:
        spec, version = _valid(change)
        results[change.filename] = _store(session, change, spec, version, now=now, by=published_by)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict("another deploy stored a version at the same time; deploy again") from error
    for change in changes:
        spec, version = _valid(change)
        if change.active_version is not None and spec.migrate:
            moved = migrate_enrollments(session, spec.id, change.active_version, version, now=now)
            results[change.filename] = replace(results[change.filename], migrated=moved)
    return DeployResult(tuple(results.get(j.filename) or _unchanged(j) for j in plan.journeys))


def _valid(planned: PlannedJourney) -> tuple[JourneySpec, int]:
    """Return the spec and new version number of a planned change (set on every change)."""
    if planned.spec is None or planned.version is None:
        raise ValueError(f"{planned.filename}: {planned.kind} is not a change to store")
    return planned.spec, planned.version


def _store(
    session: Session,
    change: PlannedJourney,
    spec: JourneySpec,
    version: int,
    *,
    now: datetime,
    by: str,
) -> DeployedJourney:
    journey = session.get(Journey, spec.id) if change.kind == "changed" else None
    if journey is None:
        journey = Journey(id=spec.id, status="active", created_at=now)
        session.add(journey)
    session.add(
        JourneyVersion(
            journey_id=spec.id,
            version=version,
            source=change.source,
            spec=spec_json(spec),
            checksum=change.checksum,
            published_at=now,
            published_by=by,
        )
    )
    journey.name = spec.name
    # A paused journey stays paused: whoever paused it resumes it, not a deploy.
    if journey.status == "draft":
        journey.status = "active"
    journey.active_version = version
    journey.updated_at = now
    return DeployedJourney(
        journey_id=spec.id,
        name=spec.name,
        filename=change.filename,
        kind="new" if change.kind == "new" else "changed",
        previous_version=change.active_version,
        version=version,
        status=journey.status,
        summary=change.diff.summary() if change.diff else "",
    )


def _unchanged(planned: PlannedJourney) -> DeployedJourney:
    return DeployedJourney(
        journey_id=planned.journey_id or "",
        name=planned.name or "",
        filename=planned.filename,
        kind="unchanged",
        previous_version=planned.active_version,
        version=planned.active_version,
        status=planned.status or "active",
        summary="unchanged",
    )


def _check_still_current(session: Session, changes: Sequence[PlannedJourney]) -> None:
    ids = [c.journey_id for c in changes if c.journey_id is not None]
    if not ids:
        return
    newest = {
        journey_id: version
        for journey_id, version in session.execute(
            select(JourneyVersion.journey_id, func.max(JourneyVersion.version))
            .where(JourneyVersion.journey_id.in_(ids))
            .group_by(JourneyVersion.journey_id)
        )
    }
    moved = sorted(
        c.journey_id
        for c in changes
        if c.journey_id and newest.get(c.journey_id) != c.latest_version
    )
    if moved:
        raise Conflict(
            f"{', '.join(moved)} changed since this deploy was planned; plan it again",
            problems=[FieldProblem(i, "a newer version was stored meanwhile") for i in moved],
        )


def migrate_enrollments(
    session: Session, journey_id: str, from_version: int, to_version: int, *, now: datetime
) -> int:
    """Move live enrollments of ``from_version`` along ``to_version``'s ``migrate`` map.

    One UPDATE per map entry, never a loop over rows. A moved enrollment enters the new
    step afresh (``active``, due at ``now``, its wait and event watch cleared), as if it had
    just arrived there; enrollments on steps the map does not name stay pinned to
    ``from_version``. Returns how many moved. Raises NotFound when ``to_version`` is unknown.
    """
    target = session.get(JourneyVersion, (journey_id, to_version))
    if target is None:
        raise NotFound(f"journey '{journey_id}' has no version {to_version}")
    mapping: Mapping[str, str] = target.spec.get("migrate") or {}
    moved = 0
    for old_step, new_step in mapping.items():
        # The state document mirrors the columns; a merge patch keeps both in one statement.
        state_patch = {
            "version": to_version,
            "step": new_step,
            "status": "active",
            "wait_started_at": None,
            "wake_at": None,
            "waiting_on": None,
        }
        result = session.execute(
            update(Enrollment)
            .where(
                Enrollment.journey_id == journey_id,
                Enrollment.version == from_version,
                Enrollment.step == old_step,
                LIVE_ENROLLMENT,
            )
            .values(
                version=to_version,
                step=new_step,
                status="active",
                wake_at=now,
                waiting_on=None,
                state=merge_patch(Enrollment.state, literal(state_patch, Json)),
                updated_at=now,
            )
            .execution_options(synchronize_session="fetch")
        )
        moved += result.rowcount  # type: ignore[attr-defined]
    return moved


# -- lifecycle --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A lifecycle call's outcome; ``previous == status`` when it changed nothing."""

    journey_id: str
    previous: str
    status: str
    enrollments_ended: int = 0

    @property
    def changed(self) -> bool:
        """Say whether the status moved."""
        return self.previous != self.status


def pause(session: Session, journey_id: str, *, now: datetime) -> StatusChange:
    """Stop new enrollments; contacts already in stay enrolled, held where they are.

    The contract for the runtime: a paused journey enrolls nobody (only ``active`` ones
    do) and its enrollments are not advanced; their timers keep running, so on resume what
    fell due meanwhile runs. Nothing is exited, so resuming loses no one. Pausing a paused
    journey changes nothing. Raises NotFound, or Conflict for a draft or archived journey.
    """
    journey = _locked(session, journey_id)
    if journey.status == "paused":
        return StatusChange(journey_id, "paused", "paused")
    if journey.status != "active":
        raise Conflict(f"journey '{journey_id}' is {journey.status}; only an active one pauses")
    return _set_status(journey, "paused", now=now)


def resume(session: Session, journey_id: str, *, now: datetime) -> StatusChange:
    """Run a paused journey again; resuming an active one changes nothing.

    Raises NotFound, or Conflict for an archived journey (archiving is for good) or a draft.
    """
    journey = _locked(session, journey_id)
    if journey.status == "active":
        return StatusChange(journey_id, "active", "active")
    if journey.status == "archived":
        raise Conflict(
            f"journey '{journey_id}' is archived and cannot be resumed; "
            "deploy it under a new id to run it again"
        )
    if journey.status != "paused":
        raise Conflict(f"journey '{journey_id}' is {journey.status}; only a paused one resumes")
    return _set_status(journey, "active", now=now)


def archive(session: Session, journey_id: str, *, now: datetime) -> StatusChange:
    """Retire a journey for good: it takes no new versions and its live enrollments end.

    Live enrollments exit with reason ``journey archived`` in one UPDATE; versions and
    history stay for reports. Archiving twice changes nothing. Raises NotFound.
    """
    journey = _locked(session, journey_id)
    if journey.status == "archived":
        return StatusChange(journey_id, "archived", "archived")
    change = _set_status(journey, "archived", now=now)
    result = session.execute(
        update(Enrollment)
        .where(Enrollment.journey_id == journey_id, LIVE_ENROLLMENT)
        .values(
            status="exited",
            exit_reason="journey archived",
            exited_at=now,
            wake_at=None,
            waiting_on=None,
            updated_at=now,
            state=merge_patch(
                Enrollment.state,
                literal({"status": "exited", "exit_reason": "journey archived"}, Json),
            ),
        )
        .execution_options(synchronize_session="fetch")
    )
    ended: int = result.rowcount  # type: ignore[attr-defined]
    return StatusChange(change.journey_id, change.previous, change.status, ended)


def _locked(session: Session, journey_id: str) -> Journey:
    journey = session.scalars(
        select(Journey).where(Journey.id == journey_id).with_for_update()
    ).one_or_none()
    if journey is None:
        raise NotFound(f"no journey '{journey_id}'{_known_hint(session, journey_id)}")
    return journey


def _known_hint(session: Session, journey_id: str) -> str:
    ids = list(session.scalars(select(Journey.id)))
    close = difflib.get_close_matches(journey_id, ids, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _set_status(journey: Journey, status: JourneyStatus, *, now: datetime) -> StatusChange:
    previous = journey.status
    journey.status = status
    journey.updated_at = now
    return StatusChange(journey.id, previous, status)


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JourneySummary:
    """One journey for a listing; ``deployed_at`` is when its active version was published."""

    id: str
    name: str
    status: str
    active_version: int | None
    versions: int
    deployed_at: datetime | None
    live_enrollments: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One stored version; ``live_enrollments`` counts the contacts pinned to it."""

    version: int
    checksum: str
    published_at: datetime
    published_by: str
    live_enrollments: int


@dataclass(frozen=True, slots=True)
class JourneyDetail:
    """A journey with its versions (oldest first) and the active version's spec as JSON."""

    summary: JourneySummary
    versions: tuple[VersionInfo, ...]
    active_spec: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class VersionDetail:
    """A stored version as published: the YAML as written and its compiled spec."""

    journey_id: str
    version: int
    source: str
    spec: dict[str, Any]
    checksum: str
    published_at: datetime
    published_by: str


def list_journeys(session: Session, *, status: JourneyStatus | None = None) -> list[JourneySummary]:
    """Return every journey (or those with ``status``) by id, with counts, in three joins."""
    versions = (
        select(JourneyVersion.journey_id, func.count().label("n"))
        .group_by(JourneyVersion.journey_id)
        .subquery()
    )
    live = (
        select(Enrollment.journey_id, func.count().label("n"))
        .where(LIVE_ENROLLMENT)
        .group_by(Enrollment.journey_id)
        .subquery()
    )
    active = aliased(JourneyVersion)
    query = (
        select(
            Journey,
            func.coalesce(versions.c.n, 0),
            active.published_at,
            func.coalesce(live.c.n, 0),
        )
        .outerjoin(versions, versions.c.journey_id == Journey.id)
        .outerjoin(
            active,
            and_(active.journey_id == Journey.id, active.version == Journey.active_version),
        )
        .outerjoin(live, live.c.journey_id == Journey.id)
        .order_by(Journey.id)
    )
    if status is not None:
        query = query.where(Journey.status == status)
    return [
        JourneySummary(
            id=j.id,
            name=j.name,
            status=j.status,
            active_version=j.active_version,
            versions=int(n_versions),
            deployed_at=deployed_at,
            live_enrollments=int(n_live),
            created_at=j.created_at,
            updated_at=j.updated_at,
        )
        for j, n_versions, deployed_at, n_live in session.execute(query)
    ]


def get_journey(session: Session, journey_id: str) -> JourneyDetail:
    """Return a journey with its versions and active spec. Raises NotFound."""
    journey = session.get(Journey, journey_id)
    if journey is None:
        raise NotFound(f"no journey '{journey_id}'{_known_hint(session, journey_id)}")
    live = {
        version: count
        for version, count in session.execute(
            select(Enrollment.version, func.count())
            .where(Enrollment.journey_id == journey_id, LIVE_ENROLLMENT)
            .group_by(Enrollment.version)
        )
    }
    rows = list(
        session.scalars(
            select(JourneyVersion)
            .where(JourneyVersion.journey_id == journey_id)
            .order_by(JourneyVersion.version)
        )
    )
    active = next((v for v in rows if v.version == journey.active_version), None)
    summary = JourneySummary(
        id=journey.id,
        name=journey.name,
        status=journey.status,
        active_version=journey.active_version,
        versions=len(rows),
        deployed_at=active.published_at if active else None,
        live_enrollments=sum(live.values()),
        created_at=journey.created_at,
        updated_at=journey.updated_at,
    )
    versions = tuple(
        VersionInfo(v.version, v.checksum, v.published_at, v.published_by, live.get(v.version, 0))
        for v in rows
    )
    return JourneyDetail(summary, versions, active.spec if active else None)


def get_version(session: Session, journey_id: str, version: int) -> VersionDetail:
    """Return one stored version with its source and spec. Raises NotFound."""
    row = session.get(JourneyVersion, (journey_id, version))
    if row is None:
        if session.get(Journey, journey_id) is None:
            raise NotFound(f"no journey '{journey_id}'{_known_hint(session, journey_id)}")
        raise NotFound(f"journey '{journey_id}' has no version {version}")
    return VersionDetail(
        journey_id=row.journey_id,
        version=row.version,
        source=row.source,
        spec=row.spec,
        checksum=row.checksum,
        published_at=row.published_at,
        published_by=row.published_by,
    )
