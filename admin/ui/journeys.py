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
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.api.deps import get_database
from admin.ui.auth import CurrentUser, Marketing, check_csrf
from admin.ui.canvas import Canvas, StepFigures, StepNode, layout
from admin.ui.i18n import add_words
from admin.ui.journey_tools import (
    EditorView,
    SimulatorRun,
    editor_view,
    entry_summary,
    run_simulator,
    wrong_journey,
)
from admin.ui.pages import render
from engine.clock import utcnow
from engine.deploy import service
from engine.deploy.catalog import catalog_from_disk
from engine.errors import Conflict, NotFound
from engine.journey import JourneySpec
from engine.runtime.stats import StepCounts, step_counts
from engine.settings import Settings
from engine.stats.splits import SplitResult, ab_results
from engine.store.db import Database
from engine.store.models import Enrollment

router = APIRouter(prefix="/admin/journeys", include_in_schema=False)
GOAL_PREFIX = "goal:"
MAX_SOURCE = 200_000
"""The editor takes a journey of at most this many characters."""

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
            "ab_results": "A/B テストの結果",
            "ab_none": "このバージョンに分岐テスト(split)はありません。",
            "variant": "パターン",
            "weight": "配分",
            "conversion_rate": "転換率",
            "interval": "95% 区間",
            "uplift": "対照との差",
            "confidence": "信頼度",
            "control": "対照",
            "not_enough_data": "データ不足",
            "no_goal": "測るゴールがありません",
            "simulator": "シミュレーター(この連絡先に何が起きるか)",
            "simulator_help": "保存済みの連絡先で、表示中のバージョンを仮想の時計で動かします。何も送信・保存されません。",
            "contact_email": "連絡先のメールアドレス",
            "events_jsonl": "発生させるイベント(1 行に 1 つの JSON)",
            "until": "終了(日時または 60d のような期間)",
            "simulate": "シミュレーション",
            "timeline": "タイムライン",
            "when_local": "日時",
            "action": "動作",
            "detail": "詳細",
            "nothing_happens": "この期間には何も起きません。",
            "enrollments_simulated": "登録回数",
            "editor": "YAML を編集してデプロイ",
            "validate": "検証",
            "deploy": "デプロイ",
            "findings": "検出された問題",
            "no_findings": "問題はありません。",
            "diff": "変更点",
            "will_store": "デプロイすると保存されるバージョン",
            "unchanged_source": "保存済みの最新バージョンと同じ内容です。",
            "deployed": "新しいバージョンを公開しました",
            "other_journey": "このページで公開できるのはこのジャーニーだけです(id を変えないでください)。",
            "nothing_stored": "エラーがあるため何も保存していません。",
            "edited_source": "編集中の YAML",
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
            "ab_results": "A/B test results",
            "ab_none": "This version has no split test.",
            "variant": "Variant",
            "weight": "Weight",
            "conversion_rate": "Conversion rate",
            "interval": "95% interval",
            "uplift": "Uplift vs control",
            "confidence": "Confidence",
            "control": "control",
            "not_enough_data": "not enough data",
            "no_goal": "no goal to measure",
            "simulator": "Simulator (what would happen to this contact)",
            "simulator_help": "Runs the version shown for a stored contact on a virtual clock. Nothing is sent or stored.",
            "contact_email": "Contact email",
            "events_jsonl": "Events to simulate (one JSON object per line)",
            "until": "Until (a date-time, or a duration such as 60d)",
            "simulate": "Simulate",
            "timeline": "Timeline",
            "when_local": "When",
            "action": "Action",
            "detail": "Detail",
            "nothing_happens": "Nothing happens in this window.",
            "enrollments_simulated": "Enrollments",
            "editor": "Edit the YAML and deploy",
            "validate": "Validate",
            "deploy": "Deploy",
            "findings": "Findings",
            "no_findings": "No problems found.",
            "diff": "Changes",
            "will_store": "A deploy stores version",
            "unchanged_source": "Same content as the newest stored version.",
            "deployed": "Published a new version",
            "other_journey": "This page deploys this journey only (keep its id).",
            "nothing_stored": "It has errors: nothing was stored.",
            "edited_source": "The YAML being edited",
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
    deployed: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """One journey: the canvas of a version (default the active one) with its live counts."""
    return _page(request, user, database, journey_id, version, deployed=deployed)


def _page(
    request: Request,
    user: CurrentUser,
    database: Database,
    journey_id: str,
    version: int | None,
    *,
    editor: EditorView | None = None,
    simulator: SimulatorRun | None = None,
    deployed: int | None = None,
    status: int = 200,
) -> HTMLResponse:
    """Render the journey page, with the editor's or the simulator's outcome when given."""
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
        splits: list[SplitResult] = []
        unreachable = False
        if stored is not None:
            spec = service.load_stored_spec(
                stored.spec, stored.source, f"{journey_id} v{stored.version}"
            )
            steps, conversions = figures_for(counts, stored.version)
            if spec is not None:
                canvas = layout(step_nodes(spec), spec.start, steps)
                unreachable = any(box.level < 0 for box in canvas.boxes)
                goals = [(g.id, conversions.get(g.id, 0)) for g in spec.goals]
                splits = ab_results(session, journey_id, stored.version, spec)
            goals += [(g, n) for g, n in sorted(conversions.items()) if g not in dict(goals)]
    return render(
        request,
        "journeys_detail.html",
        user=user,
        title_key="journeys",
        status=status,
        journey=detail.summary,
        versions=[v.version for v in detail.versions],
        stored=stored,
        canvas=canvas,
        goals=goals,
        splits=splits,
        unreachable=unreachable,
        source_lines=stored.source.splitlines() if stored else [],
        editor=editor,
        editor_lines=editor.source.splitlines() if editor else [],
        simulator=simulator,
        entry_summary=entry_summary,
        deployed=deployed,
    )


def _newest(detail: service.JourneyDetail) -> int | None:
    return detail.versions[-1].version if detail.versions else None


@router.post("/{journey_id}/simulate")
def simulate(
    request: Request,
    journey_id: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    csrf: Annotated[str, Form()] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    events: Annotated[str, Form()] = "",
    until: Annotated[str, Form(max_length=64)] = "",
    version: Annotated[int | None, Form(ge=1)] = None,
) -> HTMLResponse:
    """Show what the version would do to a stored contact, as ``nurture journeys simulate``."""
    check_csrf(user, csrf)
    with database.sessions() as session:
        run = run_simulator(
            session, journey_id, version, email=email, events=events, until=until, now=utcnow()
        )
    return _page(
        request,
        user,
        database,
        journey_id,
        version,
        simulator=run,
        status=200 if run.error is None else 422,
    )


@router.post("/{journey_id}/editor")
def edit(
    request: Request,
    journey_id: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    csrf: Annotated[str, Form()] = "",
    source: Annotated[str, Form(max_length=MAX_SOURCE)] = "",
    action: Annotated[Literal["validate", "deploy"], Form()] = "validate",
) -> Response:
    """Validate the edited YAML, or deploy it as ``nurture journeys deploy`` does, all or nothing.

    A refused deploy (errors, another journey's id, a concurrent deploy) stores nothing and
    shows the findings at their lines; a deploy redirects to the page of the new version.
    """
    check_csrf(user, csrf)
    filename = f"{journey_id}.yaml"
    settings: Settings = request.app.state.settings
    catalog = catalog_from_disk(settings.journeys_dir, settings.templates_dir)
    refused: int | None = None
    with database.unit_of_work() as session:
        plan = service.plan_deploy(session, [(filename, source)], catalog)
        (planned,) = plan.journeys
        if wrong_journey(planned, journey_id) or not plan.ok:
            refused = 422 if action == "deploy" or wrong_journey(planned, journey_id) else 200
        elif action == "validate":
            refused = 200
        else:
            try:
                result = service.apply_deploy(
                    session, plan, now=utcnow(), published_by=f"admin:{user.email}"
                )
            except Conflict:
                session.rollback()
                refused = 409
    if refused is not None:
        view = editor_view(planned, journey_id)
        return _page(request, user, database, journey_id, None, editor=view, status=refused)
    (done,) = result.journeys
    target = f"/admin/journeys/{quote(journey_id)}"
    if done.kind != "unchanged" and done.version is not None:
        target += f"?deployed={done.version}"
    return RedirectResponse(target, status_code=303)


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
