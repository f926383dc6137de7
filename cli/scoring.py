"""``nurture scoring``: check and store journeys/scoring/scoring.yaml, explain a score, regrade."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.runtime import err, fail, load_settings, open_database, out, reported

app = typer.Typer(help="Lead scoring: points with reasons, decay, fit grades and the MQL rule.")

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file", help="Scoring file (default: NURTURE_JOURNEYS_DIR/scoring/scoring.yaml)."
    ),
]


def _file(path: Path | None) -> Path:
    from engine.scoring.config import scoring_file

    return path if path is not None else scoring_file(load_settings().journeys_dir)


@app.command("check")
def check(file: FileOption = None) -> None:
    """Check the scoring file; print findings as file:line:col and exit 1 if any."""
    from engine.scoring.config import read_scoring

    spec, diagnostics, _ = read_scoring(_file(file))
    for diagnostic in diagnostics:
        err.print(diagnostic.format(), markup=False)
    if spec is None:
        raise typer.Exit(1)
    rules = sum(len(m.rules) for m in spec.models.values())
    out.print(f"scoring OK: {len(spec.models)} model(s), {rules} rule(s)")


@app.command("sync")
def sync(file: FileOption = None) -> None:
    """Store the scoring file for workers to use, and regrade every contact by it."""
    from engine.clock import utcnow
    from engine.scoring.config import read_scoring, store_scoring
    from engine.scoring.service import regrade_all

    spec, diagnostics, source = read_scoring(_file(file))
    for diagnostic in diagnostics:
        err.print(diagnostic.format(), markup=False)
    if spec is None:
        fail("nothing was stored; fix the findings above")
    database = open_database(load_settings())
    now = utcnow()
    with reported(), database.unit_of_work() as session:
        synced = store_scoring(session, source, now=now)
        moved = regrade_all(session, spec, now=now) if synced.changed else 0
    state = "stored" if synced.changed else "unchanged"
    out.print(f"scoring {state} ({synced.checksum[:12]}); {moved:,} grade(s) changed")


@app.command("explain")
def explain(
    email: str,
    model: Annotated[str, typer.Option(help="The scoring model.")] = "default",
    limit: Annotated[int, typer.Option(help="How many reasons, newest first.")] = 50,
) -> None:
    """Show a contact's score, grade and stage with the reasons behind the score."""
    from engine.scoring.explain import explain as explain_score

    database = open_database(load_settings())
    with reported(), database.sessions() as session:
        found = explain_score(session, email, model=model, limit=limit)
    out.print(
        f"{found.email}: score {found.score} ({found.model}), grade {found.grade or '-'}, "
        f"stage {found.lifecycle_stage}"
    )
    for r in found.reasons:
        out.print(
            f"  {r.occurred_at:%Y-%m-%d %H:%M}  {r.delta:+5d} → {r.score_after:5d}  "
            f"{r.rule or '-'}: {r.reason}",
            markup=False,
        )


@app.command("rescore")
def rescore(
    model: Annotated[
        str | None, typer.Option(help="Only this model (default: every model).")
    ] = None,
) -> None:
    """Recompute scores from every stored event under the synced rules (decay is not replayed)."""
    from engine.clock import utcnow
    from engine.scoring.config import active_scoring
    from engine.scoring.rescore import rescore as rescore_all

    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        spec = active_scoring(session)
        if spec is None:
            fail("no scoring file is synced; run: nurture scoring sync")
        if model is not None and model not in spec.models:
            fail(f"no scoring model {model!r}; models: {', '.join(spec.models)}")
        awards = rescore_all(session, spec, now=utcnow(), model=model)
    out.print(f"rescored: {awards:,} award(s)")


@app.command("decay")
def decay() -> None:
    """Apply a decay period now if one is due (the scheduler does this every 10 minutes)."""
    from engine.clock import utcnow
    from engine.scoring.fade import run_decay

    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        moved = run_decay(session, now=utcnow())
    out.print(f"{moved:,} score(s) decayed")
