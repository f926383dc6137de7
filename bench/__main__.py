"""``python -m bench [NAMES...] [--database-url URL] [--repeat N] [--no-record]``."""

from __future__ import annotations

import argparse
import sys

from bench.runner import main

parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
parser.add_argument("--database-url", help="PostgreSQL server to run on (default: SQLite)")
parser.add_argument("--repeat", type=int, default=3, help="repetitions; medians are reported")
parser.add_argument("--no-record", action="store_true", help="do not append to docs/benchmarks.md")
arguments = parser.parse_args()
sys.exit(
    main(
        arguments.names,
        database_url=arguments.database_url,
        repeat=arguments.repeat,
        record=not arguments.no_record,
    )
)
