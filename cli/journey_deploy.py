"""``nurture journeys deploy|diff|list|pause|resume|archive``: versioned deploy from files.

Functions only: ``cli/journeys.py`` registers them. The work is ``engine.deploy.service``'s;
it and the journey core load when a command runs, so ``nurture --help`` stays fast.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from cli.runtime import err, fail, load_settings, open_database, out, reported

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.deploy.service import DeployPlan, DeployResult, JourneyStatus, StatusChange
    from engine.journey import Diagnostic
    from engine.settings import Settings

Paths = Annotated[
    list[Path] | None,
    typer.Argument(help="Journey files or folders (default: every *.yaml in the journeys dir)."),
]
STATUSES = ("draft", "active", "paused", "archived")
JourneyId = Annotated[str, typer.Argument(help="The journey's id, e.g. b2b-lead-nurture.")]


def deploy(
    paths: Paths = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and show what would change; store nothing.")
    ] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Who publishes (default: cli:<login name>).")
    ] = None,
) -> None:
    """Validate journeys and store a new version of each changed one, all or nothing.

    Findings print like a compiler (``file:line:col: error[CODE] path: message``); any error
    stops the deploy (exit 1) and nothing is stored. Unchanged files (same content hash as
    the newest stored version) get no new version.
    """
    from engine.clock import utcnow
    from engine.deploy.service import apply_deploy

    settings = load_settings()
    database = open_database(settings)
    with reported(), database.unit_of_work() as session:
        plan = _plan(session, paths, settings)
        _refuse_errors(plan, "nothing was deployed")
        if dry_run:
            _print_plan(plan)
            return
        result = apply_deploy(session, plan, now=utcnow(), published_by=by or _publisher())
    _print_result(result)


def diff(paths: Paths = None) -> None:
    """Show what a deploy would change, journey by journey, step by step (stores nothing).

    Exits 0 whether or not anything differs, and 1 when a file has errors (a deploy would
    refuse it).
    """
    from rich.markup import escape

    settings = load_settings()
    database = open_database(settings)
    with reported(), database.sessions() as session:
        plan = _plan(session, paths, settings)
    for journey in plan.journeys:
        name = escape(journey.journey_id or journey.filename)
        if journey.kind == "invalid":
            out.print(f"[bold]{name}[/]: [red]has errors[/], a deploy would refuse it")
        elif journey.kind == "unchanged":
            out.print(f"[bold]{name}[/]: unchanged (v{journey.active_version})")
        else:
            old = f"v{journey.active_version}" if journey.active_version else "new"
            out.print(f"[bold]{name}[/]: {old} → v{journey.version}")
            for line in journey.diff.lines() if journey.diff else []:
                out.print(f"  {_colour(line)}")
    if not plan.ok:
        raise typer.Exit(1)


def list_journeys(
    status: Annotated[
        str | None, typer.Option("--status", help="Only draft|active|paused|archived.")
    ] = None,
) -> None:
    """List deployed journeys with their status, active version and live enrollments."""
    from rich.table import Table

    from engine.deploy import service

    if status is not None and status not in STATUSES:
        fail(f"--status: unknown status '{status}'; choose {', '.join(STATUSES)}")
    settings = load_settings()
    database = open_database(settings)
    with database.sessions() as session:
        journeys = service.list_journeys(session, status=cast("JourneyStatus | None", status))
    if not journeys:
        err.print("no journeys deployed yet: run nurture journeys deploy")
        return
    table = Table("journey", "name", "status", "version", "versions", "deployed at", "in journey")
    for j in journeys:
        table.add_row(
            j.id,
            j.name,
            j.status,
            str(j.active_version or "-"),
            str(j.versions),
            j.deployed_at.strftime("%Y-%m-%d %H:%M UTC") if j.deployed_at else "-",
            str(j.live_enrollments),
        )
    out.print(table)


def pause(journey_id: JourneyId) -> None:
    """Pause a journey: no new enrollments; contacts already in wait where they are."""
    _lifecycle("pause", journey_id)


def resume(journey_id: JourneyId) -> None:
    """Resume a paused journey (an archived one cannot be resumed)."""
    _lifecycle("resume", journey_id)


def archive(journey_id: JourneyId) -> None:
    """Archive a journey for good: its live enrollments end and it takes no new versions."""
    _lifecycle("archive", journey_id)


def _lifecycle(action: str, journey_id: str) -> None:
    from engine.clock import utcnow
    from engine.deploy import service

    call = {"pause": service.pause, "resume": service.resume, "archive": service.archive}[action]
    settings = load_settings()
    database = open_database(settings)
    with reported(), database.unit_of_work() as session:
        change = call(session, journey_id, now=utcnow())
    out.print(_describe(change))


def _describe(change: StatusChange) -> str:
    if not change.changed:
        return f"{change.journey_id} is already {change.status}"
    text = f"{change.journey_id}: {change.previous} → {change.status}"
    if change.enrollments_ended:
        ended = change.enrollments_ended
        text += f" ({ended} enrollment{'s' * (ended != 1)} ended)"
    return text


def _publisher() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in a bare container
        return "cli"


def _plan(session: Session, paths: list[Path] | None, settings: Settings) -> DeployPlan:
    from cli.journeys import _journey_files
    from engine.deploy.catalog import catalog_from_disk
    from engine.deploy.service import plan_deploy

    files = _journey_files(paths or [settings.journeys_dir])
    if not files:
        fail(f"no journey files found in {settings.journeys_dir}", code=2)
    sources, unreadable = _read(files)
    if unreadable:
        for finding in unreadable:
            typer.echo(finding.format(), err=True)
        fail(f"{len(unreadable)} file{'s' * (len(unreadable) != 1)} could not be read")
    catalog = catalog_from_disk(settings.journeys_dir, settings.templates_dir)
    plan = plan_deploy(session, sources, catalog)
    for diagnostic in plan.diagnostics:
        typer.echo(diagnostic.format(), err=True)
    return plan


def _read(files: list[Path]) -> tuple[list[tuple[str, str]], list[Diagnostic]]:
    from engine.journey import Diagnostic

    sources: list[tuple[str, str]] = []
    unreadable: list[Diagnostic] = []
    for path in files:
        try:
            sources.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            unreadable.append(
                Diagnostic(str(path), 1, 1, "error", "E100", "<document>", f"cannot read: {reason}")
            )
    return sources, unreadable


def _refuse_errors(plan: DeployPlan, consequence: str) -> None:
    errors = len(plan.errors)
    if not errors:
        return
    files = len({d.file for d in plan.errors})
    err.print(
        f"[bold red]✗[/] {errors} error{'s' * (errors != 1)} in {files} "
        f"file{'s' * (files != 1)}: {consequence}"
    )
    raise typer.Exit(1)


def _version(old: int | None, new: int | None) -> str:
    if old is None:
        return f"new → {new}"
    return str(old) if new in (None, old) else f"{old} → {new}"


def _print_plan(plan: DeployPlan) -> None:
    from rich.table import Table

    table = Table(
        "journey", "version", "change", "status", "changes", title="dry run: nothing stored"
    )
    for j in plan.journeys:
        summary = j.diff.summary() if j.diff else "unchanged"
        status = j.status or "active"
        table.add_row(
            j.journey_id or j.filename,
            _version(j.active_version, j.version),
            j.kind,
            status,
            summary,
        )
    out.print(table)


def _print_result(result: DeployResult) -> None:
    from rich.table import Table

    table = Table("journey", "version", "change", "status", "changes", title="deployed")
    for j in result.journeys:
        migrated = f"; {j.migrated} enrollments migrated" if j.migrated else ""
        table.add_row(
            j.journey_id,
            _version(j.previous_version, j.version),
            j.kind,
            j.status,
            j.summary + migrated,
        )
    out.print(table)
    stored = len(result.deployed)
    err.print(
        f"[bold green]✓[/] {len(result.journeys)} journeys checked: "
        f"{stored} new version{'s' * (stored != 1)} stored"
    )


def _colour(line: str) -> str:
    from rich.markup import escape

    colour = {"+": "green", "-": "red", "~": "yellow", "→": "cyan"}.get(line[:1])
    return f"[{colour}]{escape(line)}[/]" if colour else escape(line)
