"""Many rows in one statement: PostgreSQL reads them from one JSON document, SQLite takes an
executemany.

psycopg pipelines an executemany, but each row is still its own statement to plan and run.
Sending the batch as one JSON array read by ``jsonb_to_recordset`` makes it one statement
and one parameter, parsed by the server, which is what a worker stepping hundreds of
enrollments per transaction needs (an array per column costs more to quote on the client
than the statement costs to run).
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from itertools import repeat
from typing import Any, cast

import orjson
from sqlalchemy import ColumnElement, Table, TextClause, any_, bindparam, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute, Session

from engine.store.types import Json, merge_patch

#: PostgreSQL's SQLSTATE for a row a unique index refuses.
UNIQUE_VIOLATION = "23505"

#: The column kinds these helpers carry, as PostgreSQL names them.
KINDS = frozenset({"bigint", "int", "text", "timestamptz", "jsonb", "boolean"})


def among(
    session: Session, column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(array)``, one parameter.

    An ``IN`` list renders a parameter per value, so every batch size is a new statement
    for SQLAlchemy to render and psycopg to parse (a millisecond per hundred ids); the
    array form is one fixed statement whatever the count.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def update_by_id(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    kinds: Mapping[str, str],
    *,
    constants: Mapping[str, Any] | None = None,
    added: frozenset[str] = frozenset(),
    merged: frozenset[str] = frozenset(),
) -> None:
    """Set each row's columns (``kinds``: column → one of ``KINDS``) by its ``id``.

    ``constants`` are set to the same value on every row (e.g. a cleared lease); columns in
    ``added`` are incremented by the row's value rather than set to it (a score), and JSON
    columns in ``merged`` take the row's value as an RFC 7396 merge patch (attributes).
    """
    if not rows:
        return
    constants = dict(constants or {})
    if session.get_bind().dialect.name != "postgresql":
        values: dict[str, Any] = {}
        for c in kinds:
            if c in added:
                values[c] = table.c[c] + bindparam(c)
            elif c in merged:
                values[c] = merge_patch(table.c[c], bindparam(c, type_=Json))
            else:
                values[c] = bindparam(c, type_=table.c[c].type)
        session.execute(
            update(table).where(table.c.id == bindparam("_id")).values(**values | constants),
            [{"_id": r["id"], **{c: r[c] for c in kinds}} for r in rows],
        )
        return
    sets = [
        f"{c} = t.{c} + v.{c}"
        if c in added
        else f"{c} = nurture_merge_patch(t.{c}, v.{c})"
        if c in merged
        else f"{c} = v.{c}"
        for c in kinds
    ]
    sets += [f"{c} = :const_{c}" for c in constants]
    statement = (
        f"UPDATE {table.name} AS t SET {', '.join(sets)} "  # noqa: S608 - names from the schema
        f"FROM {_recordset({'id': 'bigint', **kinds})} WHERE t.id = v.id"
    )
    params = {"rows": _document(rows, ["id", *kinds])}
    params |= {f"const_{c}": v for c, v in constants.items()}
    session.execute(_statement(statement), params)


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    kinds: Mapping[str, str],
    *,
    constants: Mapping[str, Any] | None = None,
    ignore_conflicts: bool = False,
    conflicts_rare: bool = False,
) -> None:
    """Insert rows; with ``ignore_conflicts``, skip any a unique constraint refuses.

    ``constants`` fill columns that hold the same value on every row (a batch's time), sent
    once rather than in each row. ``conflicts_rare`` says a refused row is an accident, not
    the usual case (a worker's step runs, where a tag added twice is not): PostgreSQL then
    takes the rows by a plain INSERT in a savepoint, at about half the cost of the
    speculative insertion ``ON CONFLICT`` makes for every row, and only if a unique key
    refuses one does it insert them again, skipping the taken.
    """
    if not rows:
        return
    constants = dict(constants or {})
    if session.get_bind().dialect.name != "postgresql":
        many = sqlite.insert(table)
        if ignore_conflicts:
            many = many.on_conflict_do_nothing()
        session.execute(many, [{**r, **constants} for r in rows] if constants else list(rows))
        return
    columns = ", ".join([*kinds, *constants])
    values = ", ".join([*kinds, *(f":const_{c}" for c in constants)])
    statement = (
        f"INSERT INTO {table.name} ({columns}) "  # noqa: S608 - names from the schema
        f"SELECT {values} FROM {_recordset(kinds)}"
    )
    params = {"rows": _document(rows, list(kinds))}
    params |= {f"const_{c}": v for c, v in constants.items()}
    if ignore_conflicts and conflicts_rare:
        try:
            with session.begin_nested():
                session.execute(_statement(statement), params)
            return
        except IntegrityError as error:
            if getattr(error.orig, "sqlstate", None) != UNIQUE_VIOLATION:
                raise
    conflicts = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    session.execute(_statement(statement + conflicts), params)


def insert_new_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    kinds: Mapping[str, str],
    *,
    key: str,
    returning: str | None = None,
) -> set[Any]:
    """Insert rows whose unique ``key`` column is not taken; return the keys inserted.

    With ``returning``, return that column of the inserted rows instead (their ids, say),
    which saves looking them up by key afterwards.
    """
    if not rows:
        return set()
    returned = returning or key
    if session.get_bind().dialect.name != "postgresql":
        many = sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
        inserting = many.returning(table.c[returned])
        found = session.scalars(
            inserting, list(rows), execution_options={"sort_by_parameter_order": False}
        )
        return set(found)
    columns = ", ".join(kinds)
    statement = (
        f"INSERT INTO {table.name} ({columns}) "  # noqa: S608 - names from the schema
        f"SELECT {columns} FROM {_recordset(kinds)} ON CONFLICT ({key}) DO NOTHING "
        f"RETURNING {returned}"
    )
    return set(session.scalars(_statement(statement), {"rows": _document(rows, list(kinds))}))


@functools.lru_cache(maxsize=512)
def _statement(sql: str) -> TextClause:
    """The ``text()`` of a bulk statement, made once: parsing its binds each time cost a worker
    more than a percent of its time, and a batch's statements repeat (one per shape)."""
    return text(sql)


def _recordset(kinds: Mapping[str, str]) -> str:
    unknown = set(kinds.values()) - KINDS
    if unknown:
        raise ValueError(f"unsupported column kinds: {sorted(unknown)}")
    columns = ", ".join(f"{c} {kind}" for c, kind in kinds.items())
    return f"jsonb_to_recordset(CAST(:rows AS jsonb)) AS v({columns})"


def _document(rows: Sequence[Mapping[str, Any]], columns: list[str]) -> str:
    # orjson writes datetimes itself; json.dumps called back into Python for each one,
    # which was a third of an ingest batch's time. It refuses integers beyond 64 bits,
    # which JSON (and jsonb) allow: such a batch takes the slower path.
    document: Sequence[Mapping[str, Any]] = (
        rows  # the rows hold just these columns (the usual case): no copies
        if _only(rows, set(columns))
        else [{c: r[c] for c in columns} for r in rows]
    )
    try:
        return orjson.dumps(document, default=_iso, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=_iso)


def _only(rows: Sequence[Mapping[str, Any]], columns: set[str]) -> bool:
    """Say whether every row is a dict of exactly ``columns`` (checked in C, not per row in
    Python: the check cost as much as writing the document)."""
    try:
        keys = map(dict.keys, cast(Sequence[dict[str, Any]], rows))
        return all(map(operator.eq, keys, repeat(columns)))
    except TypeError:  # a row that is a mapping but not a dict
        return False


def _iso(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a bulk statement")
