"""Journey pages: the list, and one journey drawn as a canvas with live counts per step.

The counts are the runtime's own per-step accounting (``engine.runtime.stats.step_counts``,
the same figures as ``GET /api/journeys/{id}/stats``); pause and resume call the deploy
service that ``nurture journeys pause/resume`` uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.api.deps import get_database
from admin.ui.auth import CurrentUser, Marketing, check_csrf
from admin.ui.canvas import Canvas, StepFigures, StepNode, layout
from admin.ui.i18n import add_words
from admin.ui.pages import render
from engine.clock import utcnow
from engine.deploy import service
from engine.errors import NotFound
from engine.journey import JourneySpec, load_journey
from engine.runtime.stats import StepCounts, step_counts
from engine.store.db import Database
from engine.store.models import Enrollment

router = APIRouter(prefix="/admin/journeys", include_in_schema=False)
GOAL_PREFIX = "goal:"

add_words(
    {
        "ja": {
            "journeys": "ジャーニー",
            "journey_id": "ID",
            "journey_name": "名前",
            "active_version": "有効なバージョン",
            "version": "バージョン",
            "versions": "バージョン数",
            "enrollments_live": "進行中",
            "enrollments_exited": "終了",
            "no_journeys": "ジャーニーはまだありません。`nurture journeys deploy` で公開できます。",
            "canvas": "フロー",
            "step": "ステップ",
            "kind": "種類",
            "entered": "到達",
            "waiting": "待機中",
            "ready": "実行待ち",
            "moved_on": "次へ進んだ",
            "exited": "離脱",
            "exit_reasons": "離脱の理由",
            "goals": "ゴール(コンバージョン)",
            "goal": "ゴール",
            "conversions": "達成数",
            "no_goals": "このジャーニーにゴールはありません。",
            "source": "YAML ソース",
            "pause": "一時停止",
            "resume": "再開",
            "journey_status_active": "稼働中",
            "journey_status_paused": "一時停止中",
            "journey_status_draft": "下書き",
            "journey_status_archived": "アーカイブ済み",
            "not_found_page": "お探しのページは見つかりませんでした。",
            "unreachable_steps": "開始から到達できないステップは最下段に表示しています。",
            "step_table": "ステップ別の人数",
            "no_version": "公開済みのバージョンがありません。",
            "line": "行",
        },
        "en": {
            "journeys": "Journeys",
            "journey_id": "ID",
            "journey_name": "Name",
            "active_version": "Active version",
            "version": "Version",
            "versions": "Versions",
            "enrollments_live": "Live",
            "enrollments_exited": "Exited",
            "no_journeys": "No journeys yet. Publish one with `nurture journeys deploy`.",
            "canvas": "Flow",
            "step": "Step",
            "kind": "Kind",
            "entered": "Entered",
            "waiting": "Waiting",
            "ready": "Ready to run",
            "moved_on": "Moved on",
            "exited": "Exited",
            "exit_reasons": "Exit reasons",
            "goals": "Goals (conversions)",
            "goal": "Goal",
            "conversions": "Conversions",
            "no_goals": "This journey has no goals.",
            "source": "YAML source",
            "pause": "Pause",
            "resume": "Resume",
            "journey_status_active": "Active",
            "journey_status_paused": "Paused",
            "journey_status_draft": "Draft",
            "journey_status_archived": "Archived",
            "not_found_page": "The page you asked for does not exist.",
            "unreachable_steps": "Steps that cannot be reached from the start are on the last row.",
            "step_table": "People per step",
            "no_version": "No version has been published yet.",
            "line": "Line",
        },
    }
)


@dataclass(frozen=True, slots=True)
class JourneyRow:
    """A journey in the list with its enrollment figures."""

    id: str
    name: str
    status: str
    active_version: int | None
    versions: int
    live: int
    exited: int


def journey_rows(session: Session) -> list[JourneyRow]:
    """List journeys with live and exited enrollments (exited in one grouped query)."""
    exited = dict(
        session.execute(
            select(Enrollment.journey_id, func.count())
            .where(Enrollment.status == "exited")
            .group_by(Enrollment.journey_id)
        ).all()
    )
    return [
        JourneyRow(
            id=j.id,
            name=j.name,
            status=j.status,
            active_version=j.active_version,
            versions=j.versions,
            live=j.live_enrollments,
            exited=exited.get(j.id, 0),
        )
        for j in service.list_journeys(session)
    ]


def spec_of(spec_json: Mapping[str, object], source: str, label: str) -> JourneySpec | None:
    """Rebuild a stored version's spec from its JSON, else from its YAML (None if neither loads)."""
    try:
        return JourneySpec.model_validate(spec_json)
    except ValidationError:
        return load_journey(source, label).spec


def step_nodes(spec: JourneySpec) -> list[StepNode]:
    """The spec's steps as canvas nodes; an exit is labelled by its key in the YAML."""
    nodes = []
    for step_id, step in spec.steps.items():
        exits = tuple(
            (_exit_label(exit.path), exit.target)
            for exit in step.exits()
            if exit.target is not None
        )
        nodes.append(StepNode(id=step_id, kind=step.type, exits=exits))
    return nodes


def _exit_label(path: tuple[str | int, ...]) -> str:
    # ("then",) -> then; ("branches", 0, "next") -> branches[0]; ("next",) -> "" (the usual way)
    names = [str(p) for p in path if not isinstance(p, int) and p != "next"]
    indices = [str(p) for p in path if isinstance(p, int)]
    label = ".".join(names)
    return f"{label}[{indices[0]}]" if indices else label


def figures_for(
    counts: Mapping[tuple[int, str], StepCounts], version: int
) -> tuple[dict[str, StepFigures], dict[str, int]]:
    """Split one version's counts into step figures and goal conversions."""
    steps: dict[str, StepFigures] = {}
    goals: dict[str, int] = {}
    for (counted_version, step), c in counts.items():
        if counted_version != version:
            continue
        if step.startswith(GOAL_PREFIX):
            goals[step.removeprefix(GOAL_PREFIX)] = c.entered
            continue
        steps[step] = StepFigures(c.entered, c.waiting, c.active, dict(c.exited))
    return steps, goals


def not_found(request: Request, user: CurrentUser) -> HTMLResponse:
    """The admin's 404 page, inside the layout."""
    return render(
        request,
        "admin_message.html",
        user=user,
        title_key="not_found_page",
        status=404,
        message_key="not_found_page",
    )


@router.get("")
def journeys(
    request: Request, user: Marketing, database: Annotated[Database, Depends(get_database)]
) -> HTMLResponse:
    """Every journey with its status, active version and enrollment figures."""
    with database.sessions() as session:
        rows = journey_rows(session)
    return render(request, "journeys_list.html", user=user, title_key="journeys", rows=rows)


@router.get("/{journey_id}")
def journey(
    request: Request,
    journey_id: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    version: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """One journey: the canvas of a version (default the active one) with its live counts."""
    with database.sessions() as session:
        try:
            detail = service.get_journey(session, journey_id)
            shown = version or detail.summary.active_version or _newest(detail)
            stored = service.get_version(session, journey_id, shown) if shown else None
        except NotFound:
            return not_found(request, user)
        counts = step_counts(session, journey_id)
    canvas: Canvas | None = None
    goals: list[tuple[str, int]] = []
    unreachable = False
    if stored is not None:
        spec = spec_of(stored.spec, stored.source, f"{journey_id} v{stored.version}")
        steps, conversions = figures_for(counts, stored.version)
        if spec is not None:
            canvas = layout(step_nodes(spec), spec.start, steps)
            unreachable = any(box.level < 0 for box in canvas.boxes)
            goals = [(g.id, conversions.get(g.id, 0)) for g in spec.goals]
        goals += [(g, n) for g, n in sorted(conversions.items()) if g not in dict(goals)]
    return render(
        request,
        "journeys_detail.html",
        user=user,
        title_key="journeys",
        journey=detail.summary,
        versions=[v.version for v in detail.versions],
        stored=stored,
        canvas=canvas,
        goals=goals,
        unreachable=unreachable,
        source_lines=stored.source.splitlines() if stored else [],
    )


def _newest(detail: service.JourneyDetail) -> int | None:
    return detail.versions[-1].version if detail.versions else None


#: What the canvas's buttons do: stop new enrollments (contacts already in wait where
#: they are), or run a paused journey again.
_STATUS_CHANGES = {"pause": service.pause, "resume": service.resume}


@router.post("/{journey_id}/{change}")
def change_status(
    journey_id: str,
    change: Literal["pause", "resume"],
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Pause or resume a journey, as ``nurture journeys pause/resume`` does."""
    check_csrf(user, csrf)
    with database.unit_of_work() as session:
        _STATUS_CHANGES[change](session, journey_id, now=utcnow())
    return RedirectResponse(f"/admin/journeys/{quote(journey_id)}", status_code=303)
