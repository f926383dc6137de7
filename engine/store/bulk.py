"""Many rows in one statement: PostgreSQL reads them from arrays, SQLite takes an executemany.

psycopg pipelines an executemany, but each row is still its own statement to plan and run;
``unnest`` of one array per column turns a batch into a single statement, which is what a
worker stepping hundreds of enrollments per transaction needs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

#: PostgreSQL array types for the column kinds these helpers carry.
ARRAY_TYPES = {
    "bigint": "bigint[]",
    "int": "int[]",
    "text": "text[]",
    "timestamptz": "timestamptz[]",
    "jsonb": "text[]",  # sent as JSON text, cast per element
}


def update_by_id(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    kinds: Mapping[str, str],
    *,
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Set each row's columns (``kinds``: column → bigint|int|text|timestamptz|jsonb) by ``id``.

    ``constants`` are set to the same value on every row (e.g. a cleared lease).
    """
    if not rows:
        return
    constants = dict(constants or {})
    if session.get_bind().dialect.name != "postgresql":
        stmt = update(table).where(table.c.id == bindparam("_id"))
        values: dict[str, Any] = {c: bindparam(c, type_=table.c[c].type) for c in kinds} | constants
        session.execute(
            stmt.values(**values), [{"_id": r["id"], **{c: r[c] for c in kinds}} for r in rows]
        )
        return
    columns = ["id", *kinds]
    arrays = {c: _column(rows, c, kinds.get(c, "bigint")) for c in columns}
    selected = ", ".join(
        f"unnest(CAST(:{c} AS {ARRAY_TYPES[kinds.get(c, 'bigint')]})) AS {c}" for c in columns
    )
    sets = [f"{c} = CAST(v.{c} AS jsonb)" if kinds[c] == "jsonb" else f"{c} = v.{c}" for c in kinds]
    sets += [f"{c} = :const_{c}" for c in constants]
    statement = (
        f"UPDATE {table.name} AS t SET {', '.join(sets)} "  # noqa: S608 - names from the schema
        f"FROM (SELECT {selected}) AS v WHERE t.id = v.id"
    )
    params = arrays | {f"const_{c}": v for c, v in constants.items()}
    session.execute(text(statement), params)


def insert_ignoring_conflicts(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]
) -> None:
    """Insert rows, skipping any a unique constraint refuses (``ON CONFLICT DO NOTHING``)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(sqlite.insert(table).on_conflict_do_nothing(), list(rows))
        return
    columns = list(kinds)
    selected = ", ".join(
        f"CAST(unnest(CAST(:{c} AS {ARRAY_TYPES[kinds[c]]})) AS jsonb)"
        if kinds[c] == "jsonb"
        else f"unnest(CAST(:{c} AS {ARRAY_TYPES[kinds[c]]}))"
        for c in columns
    )
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {selected} ON CONFLICT DO NOTHING"
    )
    session.execute(text(statement), {c: _column(rows, c, kinds[c]) for c in columns})


def _column(rows: Sequence[Mapping[str, Any]], name: str, kind: str) -> list[Any]:
    values = [r[name] for r in rows]
    if kind == "jsonb":
        return [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
    return values
