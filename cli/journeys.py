"""``nurture journeys``: check journey files like a compiler, and export the JSON schema.

This face reads files; the checks themselves live in the pure ``engine.journey``.
Until the catalog service exists, known templates and segments come from disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from cli import journey_deploy, journey_enroll, journey_sim
from cli.runtime import load_settings
from engine.deploy.catalog import catalog_from_disk

if TYPE_CHECKING:  # the journey core builds its models on import: load it when a command runs
    from engine.journey import Catalog, Report

app = typer.Typer(
    help="Validate journey YAML files and export the journey JSON schema.",
    no_args_is_help=True,
)

JOURNEY_SUFFIXES = (".yaml", ".yml")


def _journey_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            # Non-recursive on purpose: segments/ holds segment definitions, not journeys.
            files += sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix in JOURNEY_SUFFIXES
            )
        else:
            files.append(path)
    return files


def _check_file(path: Path, catalog: Catalog) -> Report:
    from engine.journey import Diagnostic, Report, validate_journey

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        finding = Diagnostic(
            str(path), 1, 1, "error", "E100", "<document>", f"cannot read: {reason}"
        )
        return Report(str(path), None, (finding,))
    return validate_journey(text, str(path), catalog)


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Journey files or folders (default: every *.yaml in the journeys dir)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the findings as a JSON list on stdout.")
    ] = False,
) -> None:
    """Check journeys and report every problem as ``file:line:col: error[CODE] path: message``."""
    console = Console(stderr=True)
    settings = load_settings()
    base = settings.journeys_dir
    files = _journey_files(paths or [base])
    if not files:
        console.print(f"[yellow]no journey files found in {base}[/yellow]")
        raise typer.Exit(2)
    catalog = catalog_from_disk(base, settings.templates_dir)
    reports = [_check_file(path, catalog) for path in files]
    diagnostics = [d for report in reports for d in report.diagnostics]
    if as_json:
        typer.echo(json.dumps([d.to_dict() for d in diagnostics], ensure_ascii=False, indent=2))
    else:
        for diagnostic in diagnostics:
            typer.echo(diagnostic.format(), err=True)
    errors = sum(len(r.errors) for r in reports)
    warnings = sum(len(r.warnings) for r in reports)
    noun = "journey" if len(files) == 1 else "journeys"
    counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    if errors:
        console.print(f"[bold red]✗[/] {len(files)} {noun} checked: {counts}", highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold green]✓[/] {len(files)} {noun} checked: {counts}", highlight=False)


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the schema to this file.")
    ] = None,
) -> None:
    """Print the journey/v1 JSON Schema (for editor autocomplete and checks)."""
    from engine.journey import journey_json_schema

    text = json.dumps(journey_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    Console(stderr=True).print(f"wrote {output}", highlight=False)


# -- commands defined in other modules (one line each) --
app.command("deploy")(journey_deploy.deploy)
app.command("diff")(journey_deploy.diff)
app.command("list")(journey_deploy.list_journeys)
app.command("pause")(journey_deploy.pause)
app.command("resume")(journey_deploy.resume)
app.command("archive")(journey_deploy.archive)
app.command("simulate")(journey_sim.simulate)
app.command("test")(journey_sim.run_tests)
app.command("new")(journey_sim.new)
app.command("docs")(journey_sim.docs)
app.command("enroll")(journey_enroll.enroll)
app.command("remove")(journey_enroll.remove)
# -- end of commands defined in other modules --
