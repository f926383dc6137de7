"""Journeys: list, read versions, validate YAML for the editor, deploy, pause, resume, archive.

Thin views over ``engine.deploy.service``. Validation answers 200 with its findings whatever
they are (the editor shows them in place); a deploy with any error answers 422 carrying
the same findings, and stores nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter

from admin.api.deps import Reader, SessionDep, Writer
from admin.api.errors import error_body
from admin.api.validation import validate_body
from engine.clock import utcnow
from engine.contacts.schemas import Email
from engine.deploy import service
from engine.deploy.catalog import catalog_from_disk
from engine.journey import Catalog
from engine.runtime import enroll as enroll_service
from engine.runtime import removal
from engine.runtime import simulate as simulate_service
from engine.runtime.roster import RosterPage, RosterStatus, journey_roster
from engine.runtime.stats import step_counts
from engine.settings import Settings
from engine.stats.splits import ab_results

router = APIRouter(prefix="/api/journeys", tags=["journeys"])

JourneyIdPath = Annotated[
    str, Path(max_length=64, description="The journey's id, e.g. b2b-lead-nurture.")
]
Status = Literal["draft", "active", "paused", "archived"]
MAX_SOURCE = 1_000_000
"""Characters of YAML per file: far above any real journey, well below a memory problem."""
MAX_FILES = 500
_EMAILS = TypeAdapter(list[Email])


class JourneyFile(BaseModel):
    """One journey file as the editor holds it."""

    filename: str = Field(
        min_length=1, max_length=500, description="Shown in findings, e.g. journeys/x.yaml."
    )
    source: str = Field(max_length=MAX_SOURCE, description="The YAML text.")


class DiagnosticOut(BaseModel):
    """One finding; ``line`` and ``col`` are 1-based, ``path`` is dotted (steps.x.next)."""

    file: str
    line: int
    col: int
    severity: Literal["error", "warning"]
    code: str
    path: str
    message: str


class StepChangeOut(BaseModel):
    """A step added, removed or changed; ``fields`` names the keys that differ."""

    step: str
    type: str
    fields: list[str]


class DiffOut(BaseModel):
    """What a new version changes against the active one."""

    new_journey: bool
    summary: str
    steps_added: list[StepChangeOut]
    steps_removed: list[StepChangeOut]
    steps_changed: list[StepChangeOut]
    settings_changed: list[str]
    migrate: dict[str, str]


class PlannedOut(BaseModel):
    """What a deploy would do with one file: ``change`` is new|changed|unchanged|invalid."""

    filename: str
    journey_id: str | None
    name: str | None
    change: Literal["new", "changed", "unchanged", "invalid"]
    status: str | None
    active_version: int | None
    version: int | None = Field(description="The version a deploy would store.")
    checksum: str
    diff: DiffOut | None
    diagnostics: list[DiagnosticOut]


class ValidateOut(BaseModel):
    """Findings for the editor, and what deploying the file would do."""

    ok: bool
    diagnostics: list[DiagnosticOut]
    plan: PlannedOut


class DeployedOut(BaseModel):
    """One journey of an applied deploy; ``version`` is the active version afterwards."""

    journey_id: str
    name: str
    filename: str
    change: Literal["new", "changed", "unchanged"]
    previous_version: int | None
    version: int | None
    status: str
    summary: str
    enrollments_migrated: int


class DeployOut(BaseModel):
    """Every journey of the deploy, in the order of the files."""

    journeys: list[DeployedOut]


class JourneyOut(BaseModel):
    """A journey in a listing."""

    id: str
    name: str
    status: str
    active_version: int | None
    versions: int
    deployed_at: datetime | None
    live_enrollments: int
    created_at: datetime
    updated_at: datetime


class VersionInfoOut(BaseModel):
    """A stored version; ``live_enrollments`` counts contacts pinned to it."""

    version: int
    checksum: str
    published_at: datetime
    published_by: str
    live_enrollments: int


class JourneyDetailOut(JourneyOut):
    """A journey with every version (oldest first) and its active spec as JSON."""

    version_history: list[VersionInfoOut]
    active_spec: dict[str, Any] | None


class VersionOut(BaseModel):
    """A stored version as published: the YAML as written and its compiled spec."""

    journey_id: str
    version: int
    source: str
    spec: dict[str, Any]
    checksum: str
    published_at: datetime
    published_by: str


class StatusChangeOut(BaseModel):
    """A lifecycle call's outcome; ``previous == status`` when it changed nothing."""

    journey_id: str
    previous: str
    status: str
    enrollments_ended: int


def _catalog(request: Request) -> Catalog:
    """The catalog the CLI uses, so a journey validates the same through both faces."""
    settings: Settings = request.app.state.settings
    return catalog_from_disk(settings.journeys_dir, settings.templates_dir)


@router.get("", response_model=list[JourneyOut])
def list_journeys(
    session: SessionDep, _: Reader, status: Annotated[Status | None, Query()] = None
) -> list[JourneyOut]:
    """List journeys by id with status, active version, version count and live enrollments."""
    return [JourneyOut(**asdict(j)) for j in service.list_journeys(session, status=status)]


@router.post("/validate", response_model=ValidateOut)
def validate(body: JourneyFile, session: SessionDep, _: Reader, request: Request) -> ValidateOut:
    """Check one file against the catalog and its active version; findings come as JSON.

    Answers 200 for any well-formed request, even when the journey has errors: the findings
    are the answer. ``plan`` tells what deploying it would do (new, changed, unchanged).
    """
    plan = service.plan_deploy(session, [(body.filename, body.source)], _catalog(request))
    (planned,) = plan.journeys
    return ValidateOut(
        ok=plan.ok,
        diagnostics=[DiagnosticOut.model_validate(d.to_dict()) for d in plan.diagnostics],
        plan=PlannedOut.model_validate(planned.to_json()),
    )


@router.post(
    "/deploy",
    response_model=DeployOut,
    responses={
        422: {"description": "Some file has errors: nothing stored; ``diagnostics`` lists all"},
        409: {"description": "Another deploy stored a version meanwhile: deploy again"},
    },
)
def deploy(
    files: Annotated[list[JourneyFile], Body(min_length=1, max_length=MAX_FILES)],
    session: SessionDep,
    principal: Writer,
    request: Request,
) -> DeployOut | JSONResponse:
    """Store a new version of each changed journey and activate it, all or nothing.

    Unchanged files (same content hash as the newest version) get no new version.
    """
    plan = service.plan_deploy(session, [(f.filename, f.source) for f in files], _catalog(request))
    if not plan.ok:
        refused = service.InvalidJourneys(plan.diagnostics)
        body = error_body(refused.code, refused.message, refused.problems)
        body["diagnostics"] = [d.to_dict() for d in plan.diagnostics]
        return JSONResponse(body, status_code=422)
    result = service.apply_deploy(session, plan, now=utcnow(), published_by=f"api:{principal.name}")
    session.commit()
    return DeployOut(journeys=[DeployedOut.model_validate(j.to_json()) for j in result.journeys])


class SimulateIn(BaseModel):
    """What to simulate: YAML being edited or a stored version, for a stored or given contact."""

    source: str | None = Field(None, max_length=MAX_SOURCE, description="YAML to simulate.")
    journey_id: str | None = Field(None, max_length=64, description="Or a published journey.")
    version: int | None = Field(None, ge=1, description="Its version (default: the active one).")
    email: str | None = Field(None, max_length=320, description="A stored contact to use.")
    contact: dict[str, Any] | None = Field(
        None, description="Or a contact as JSON: its fields, 'attributes', tags, subscriptions."
    )
    events: list[dict[str, Any]] = Field(
        default_factory=list, max_length=10_000, description='{"type", "occurred_at", "properties"}'
    )
    start: str | None = Field(None, description="ISO-8601 start (default: the first event).")
    until: str | None = Field(None, description="ISO-8601 end, or a duration such as 60d.")
    explain: bool = Field(False, description="Add why each decision went the way it did.")


class SimulateOut(BaseModel):
    """The timeline, in time order; each entry's ``at`` carries the contact's offset."""

    journey_id: str
    start: datetime
    until: datetime
    enrollments: int
    truncated: bool
    entries: list[dict[str, Any]]


@router.post("/simulate", response_model=SimulateOut)
def simulate(body: SimulateIn, session: SessionDep, _: Reader) -> SimulateOut:
    """Run a journey on a virtual clock for one contact: what is sent when, which way, why."""
    spec = simulate_service.journey_spec(
        session, source=body.source, journey_id=body.journey_id, version=body.version
    )
    result = simulate_service.simulate_for(
        session,
        spec,
        email=body.email,
        contact=body.contact,
        events=body.events,
        start=body.start,
        until=body.until,
        explain=body.explain,
        now=utcnow(),
    )
    return SimulateOut(
        journey_id=result.journey_id,
        start=result.start,
        until=result.until,
        enrollments=result.enrollments,
        truncated=result.truncated,
        entries=result.to_json(),
    )


class StepStatsOut(BaseModel):
    """One step of one version: entered so far, holding contacts now, and exits by reason."""

    version: int
    step: str
    entered: int
    waiting: int
    active: int
    exited: dict[str, int]


@router.get("/{journey_id}/stats", response_model=list[StepStatsOut])
def stats(journey_id: JourneyIdPath, session: SessionDep, _: Reader) -> list[StepStatsOut]:
    """Per-step counts for the journey canvas; goals reached appear as ``goal:<id>`` steps."""
    service.get_journey(session, journey_id)  # 404 with a "did you mean" for a wrong id
    counts = step_counts(session, journey_id)
    return [StepStatsOut(version=v, step=s, **asdict(c)) for (v, s), c in sorted(counts.items())]


class AbComparisonOut(BaseModel):
    """A path against the control: its conversion rate with a 95 % Wilson interval, the
    uplift relative to the control, and the two-sided confidence of a two-proportion z-test
    (null below the minimum sample)."""

    trials: int
    successes: int
    rate: float | None
    low: float
    high: float
    uplift: float | None
    confidence: float | None
    enough_data: bool


class AbVariantOut(BaseModel):
    """One path of a split: enrollments that ran its first step, and how many reached the goal."""

    name: str
    weight: float
    entered: int
    conversions: int
    control: bool
    comparison: AbComparisonOut


class AbSplitOut(BaseModel):
    """A split step measured against its experiment's goal (else the journey's first goal)."""

    version: int
    step: str
    goal: str | None
    variants: list[AbVariantOut]


@router.get("/{journey_id}/ab", response_model=list[AbSplitOut])
def ab(
    journey_id: JourneyIdPath,
    session: SessionDep,
    _: Reader,
    version: Annotated[int | None, Query(ge=1, description="Default: the active version.")] = None,
) -> list[AbSplitOut]:
    """A/B results of every split step of one version, as the journey page shows them."""
    detail = service.get_journey(session, journey_id)
    shown = version or detail.summary.active_version
    if shown is None:
        return []
    stored = service.get_version(session, journey_id, shown)
    spec = service.load_stored_spec(stored.spec, stored.source, f"{journey_id} v{shown}")
    if spec is None:
        return []
    return [
        AbSplitOut.model_validate({"version": shown, **split.to_dict()})
        for split in ab_results(session, journey_id, shown, spec)
    ]


class EnrollIn(BaseModel):
    """Contacts to enroll by email, and the entry data ``entry.*`` refers to."""

    emails: list[str] = Field(min_length=1, max_length=10_000)
    entry: dict[str, Any] | None = Field(None, description='Default: {"name": "manual"}.')


class EnrollOut(BaseModel):
    """Enrolled now (they start within a second), refused by rule, and unknown emails."""

    enrolled: int
    refused: dict[str, int]
    unknown: list[str]


@router.get("/{journey_id}/enrollments", response_model=RosterPage)
def roster(
    journey_id: JourneyIdPath,
    session: SessionDep,
    _: Reader,
    step: Annotated[str | None, Query(max_length=64, description="Only at this step")] = None,
    status: Annotated[
        RosterStatus, Query(description="live (active or waiting), active, waiting, exited, all")
    ] = "live",
    version: Annotated[int | None, Query(ge=1)] = None,
    visited: Annotated[
        str | None, Query(max_length=64, description="Only those that ever entered this step")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> RosterPage:
    """Who is in the journey: enrollments with their contacts, newest first, by step and status."""
    return journey_roster(
        session,
        journey_id,
        step=step,
        status=status,
        version=version,
        visited=visited,
        limit=limit,
        cursor=cursor,
    )


@router.post("/{journey_id}/enrollments", response_model=EnrollOut)
def enroll(
    journey_id: JourneyIdPath, body: EnrollIn, session: SessionDep, _: Writer, request: Request
) -> EnrollOut:
    """Enroll contacts by hand; the audience and entry rules apply as for a trigger."""
    emails = validate_body(_EMAILS, body.emails, ["emails"])
    ids, unknown = enroll_service.contact_ids_by_email(session, emails)
    result = enroll_service.enroll_contacts(
        session, journey_id, ids, now=utcnow(), journeys=request.app.state.journeys
    )
    session.commit()
    return EnrollOut(enrolled=result.enrolled, refused=dict(result.refused), unknown=unknown)


class RemoveIn(BaseModel):
    """Contacts to take out of the journey, by email."""

    emails: list[str] = Field(min_length=1, max_length=10_000)


class RemoveOut(BaseModel):
    """Contacts whose live enrollments ended (reason ``removed``), those with none, and
    emails no contact has."""

    removed: int
    not_enrolled: list[str]
    unknown: list[str]


@router.post("/{journey_id}/enrollments/exit", response_model=RemoveOut)
def remove(journey_id: JourneyIdPath, body: RemoveIn, session: SessionDep, _: Writer) -> RemoveOut:
    """Take contacts out of the journey now: their live enrollments exit as ``removed``."""
    emails = validate_body(_EMAILS, body.emails, ["emails"])
    ids, unknown = enroll_service.contact_ids_by_email(session, emails)
    ended = set(removal.remove_contacts(session, journey_id, ids, now=utcnow()))
    session.commit()
    by_id = enroll_service.emails_by_contact_id(session, set(ids) - ended)
    return RemoveOut(removed=len(ended), not_enrolled=sorted(by_id.values()), unknown=unknown)


@router.get("/{journey_id}", response_model=JourneyDetailOut)
def get_journey(journey_id: JourneyIdPath, session: SessionDep, _: Reader) -> JourneyDetailOut:
    """Return a journey with its version history and the active version's spec."""
    detail = service.get_journey(session, journey_id)
    return JourneyDetailOut(
        **asdict(detail.summary),
        version_history=[VersionInfoOut(**asdict(v)) for v in detail.versions],
        active_spec=detail.active_spec,
    )


@router.get("/{journey_id}/versions/{version}", response_model=VersionOut)
def get_version(
    journey_id: JourneyIdPath,
    version: Annotated[int, Path(ge=1)],
    session: SessionDep,
    _: Reader,
) -> VersionOut:
    """Return one stored version: the YAML as written and its spec."""
    return VersionOut(**asdict(service.get_version(session, journey_id, version)))


@router.post("/{journey_id}/pause", response_model=StatusChangeOut)
def pause(journey_id: JourneyIdPath, session: SessionDep, _: Writer) -> StatusChangeOut:
    """Stop new enrollments; contacts already in wait where they are (idempotent)."""
    change = service.pause(session, journey_id, now=utcnow())
    session.commit()
    return StatusChangeOut(**asdict(change))


@router.post("/{journey_id}/resume", response_model=StatusChangeOut)
def resume(journey_id: JourneyIdPath, session: SessionDep, _: Writer) -> StatusChangeOut:
    """Run a paused journey again; 409 for an archived one (idempotent otherwise)."""
    change = service.resume(session, journey_id, now=utcnow())
    session.commit()
    return StatusChangeOut(**asdict(change))


@router.post("/{journey_id}/archive", response_model=StatusChangeOut)
def archive(journey_id: JourneyIdPath, session: SessionDep, _: Writer) -> StatusChangeOut:
    """Retire a journey for good: live enrollments end, no new versions (idempotent)."""
    change = service.archive(session, journey_id, now=utcnow())
    session.commit()
    return StatusChangeOut(**asdict(change))
