"""Instructions per stepped enrollment: a steady figure for judging a change to the worker.

Rates on a shared machine move by a sixth from run to run, more than most single changes to
the worker's code gain or lose. Valgrind's instruction count does not move: this steps the
``stepping`` benchmark's journey and data in one process under callgrind, counting only the
stepping (``claim_due`` and ``advance``, as the benchmark's workers loop them), and prints
the instructions per enrollment. PostgreSQL's own work is not counted.

    python -m bench.instructions --database-url postgresql+psycopg://postgres@127.0.0.1/postgres

Needs ``valgrind`` (Debian's package); it runs about fifty times slower than natively, so
the default is 2,000 enrollments (a minute).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from tempfile import TemporaryDirectory

from bench import stepping
from bench.runner import scratch_database
from engine.clock import utcnow
from engine.operations.heap import settle
from engine.store.db import Database

#: What callgrind prints at exit: the instructions it counted.
COLLECTED = re.compile(r"Collected : (\d+)")


def count(database_url: str, enrollments: int) -> int:
    """Run ``step`` under callgrind on a scratch database; return the instructions counted."""
    with TemporaryDirectory() as folder, scratch_database(database_url, Path(folder)) as url:
        finished = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={Path(folder) / 'callgrind.out'}",
                sys.executable,
                "-m",
                "bench.instructions",
                "--inner",
                url,
                "-n",
                str(enrollments),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    found = COLLECTED.search(finished.stderr)
    if finished.returncode != 0 or found is None:
        raise SystemExit(f"stepping under callgrind failed:\n{finished.stderr[-4000:]}")
    return int(found.group(1))


def step(url: str, enrollments: int) -> None:
    """Deploy and populate, then step everything with callgrind counting (the inner process)."""
    database = Database(url)
    version = stepping.deploy(database, utcnow())
    stepping.populate(database.engine, enrollments, version, utcnow())
    settle()  # as ``nurture worker`` does once started
    toggle = ["callgrind_control", "--instr"]
    subprocess.run([*toggle, "on", str(os.getpid())], check=True, capture_output=True)
    stepped = stepping.step_due(database, "instructions")
    subprocess.run([*toggle, "off", str(os.getpid())], check=True, capture_output=True)
    database.dispose()
    assert stepped == enrollments, f"stepped {stepped} of {enrollments}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--database-url", help="PostgreSQL server (default: a SQLite file)")
    parser.add_argument("-n", type=int, default=2000, help="enrollments to step")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.inner:
        step(arguments.inner, arguments.n)
        return
    total = count(arguments.database_url, arguments.n)
    print(f"{total // arguments.n:,} instructions per stepped enrollment ({arguments.n:,} stepped)")


if __name__ == "__main__":
    main()
