"""``nurture bench``: run the benchmarks in ``bench/`` and record their figures."""

from __future__ import annotations

from typing import Annotated

import typer


def bench(
    names: Annotated[
        list[str] | None, typer.Argument(help="Benchmarks to run (default: all in bench/).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="PostgreSQL server; a scratch bench_xxx database is made and dropped."),
    ] = None,
    repeat: Annotated[int, typer.Option(help="Repetitions; medians are reported.")] = 3,
    record: Annotated[bool, typer.Option(help="Append the figures to docs/benchmarks.md.")] = True,
) -> None:
    """Measure throughput against a bare baseline in the same run (ratios, not pass/fail)."""
    from bench.runner import main  # the bench package is only needed when benchmarking

    raise typer.Exit(main(names or [], database_url=database_url, repeat=repeat, record=record))
