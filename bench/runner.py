"""Find, run and record benchmarks: each in a scratch database of its own."""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.store.db import Database
from engine.store.migrate import upgrade

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
NOT_BENCHMARKS = {"runner"}
console = Console(highlight=False)


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured rate and the baseline doing the same work bare, both medians."""

    benchmark: str
    what: str
    unit: str
    value: float
    baseline: str
    baseline_value: float
    runs: int

    @property
    def ratio(self) -> float:
        """Nurture's rate as a share of the baseline's (1.0 = no overhead)."""
        return self.value / self.baseline_value


@dataclass(frozen=True, slots=True)
class Context:
    """What a benchmark gets: a migrated scratch database, a folder, the repetition count."""

    database_url: str
    folder: Path
    repeat: int

    def database(self) -> Database:
        """Open the scratch database (the benchmark disposes of it)."""
        return Database(self.database_url)


def rate(count: int, action: Callable[[], object]) -> float:
    """Run ``action`` once; return ``count`` per second."""
    started = time.perf_counter()
    action()
    return count / (time.perf_counter() - started)


def median(values: list[float]) -> float:
    """The median, which one noisy repetition cannot move much."""
    return statistics.median(values)


def discover() -> dict[str, ModuleType]:
    """Every module of this package with a ``run(context)`` function, by name."""
    import bench

    found = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in NOT_BENCHMARKS:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "run", None)):
            found[info.name] = module
    return found


@contextmanager
def scratch_database(server_url: str | None, folder: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or ``bench_xxx`` on the server (dropped)."""
    if not server_url:
        url = f"sqlite:///{folder / f'bench_{uuid.uuid4().hex[:8]}.db'}"
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def machine(server_url: str | None) -> str:
    """CPUs, Python, database and commit, for the record."""
    if server_url:
        engine = create_engine(server_url)
        with engine.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar()
        engine.dispose()
        database = f"PostgreSQL {version}"
    else:
        import sqlite3

        database = f"SQLite {sqlite3.sqlite_version}"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=RESULTS.parent.parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"nproc {cpus}, Python {platform.python_version()}, {database}, commit {commit}"


def main(
    names: list[str], *, database_url: str | None = None, repeat: int = 3, record: bool = True
) -> int:
    """Run the named benchmarks (all by default), print a table, append it to the results."""
    available = discover()
    unknown = [n for n in names if n not in available]
    if unknown:
        console.print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(available)}")
        return 2
    if database_url and database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    about = machine(database_url)
    console.print(f"[bold]benchmarks[/] on {about}; medians of {repeat} runs")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="nurture-bench-") as folder:
        for name in names or list(available):
            console.print(f"running {name} …")
            with scratch_database(database_url, Path(folder)) as url:
                started = time.perf_counter()
                figures += available[name].run(Context(url, Path(folder), max(repeat, 1)))
                console.print(f"  {name} took {time.perf_counter() - started:.1f} s")
    console.print(table(figures))
    if record:
        append(figures, about, repeat)
        console.print(f"appended to {RESULTS}")
    return 0


def table(figures: list[Figure]) -> Table:
    """The figures as a Rich table."""
    grid = Table("benchmark", "what", "Nurture", "baseline", "ratio")
    for f in figures:
        grid.add_row(
            f.benchmark,
            f.what,
            f"{f.value:,.0f} {f.unit}",
            f"{f.baseline_value:,.0f} {f.unit} ({f.baseline})",
            format_ratio(f.ratio),
        )
    return grid


def append(figures: list[Figure], about: str, repeat: int) -> None:
    """Add a dated section to docs/benchmarks.md (the header is written by hand)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"\n## {stamp}\n",
        f"{about}; medians of {repeat} runs.\n",
        "| benchmark | what | Nurture | baseline | ratio |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    lines += [
        f"| {f.benchmark} | {f.what} | {f.value:,.0f} {f.unit} | "
        f"{f.baseline_value:,.0f} {f.unit} ({f.baseline}) | {format_ratio(f.ratio)} |"
        for f in figures
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def format_ratio(ratio: float) -> str:
    """Two decimals, or two significant digits for ratios below 0.01 (0.0034, not 0.00)."""
    return f"{ratio:.2f}" if ratio >= 0.01 else f"{ratio:.2g}"
