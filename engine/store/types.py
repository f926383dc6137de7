"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.types import TypeDecorator

#: 64-bit ids on PostgreSQL; SQLite only auto-numbers a column declared INTEGER PRIMARY KEY.
BigId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

#: JSON documents: JSONB on PostgreSQL (indexable, merge-patchable), JSON text on SQLite.
Json: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite stores them naive, PostgreSQL as timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class merge_patch(GenericFunction[Any]):  # noqa: N801 - SQL function names are lower case
    """RFC 7396 JSON merge patch of two documents, done by the database in one statement."""

    type = Json
    inherit_cache = True
    name = "merge_patch"


@compiles(merge_patch, "sqlite")
def _merge_patch_sqlite(element: merge_patch, compiler: Any, **kw: Any) -> str:
    return f"json_patch({compiler.process(element.clauses, **kw)})"


@compiles(merge_patch, "postgresql")
def _merge_patch_postgresql(element: merge_patch, compiler: Any, **kw: Any) -> str:
    # nurture_merge_patch is created by the first migration (PostgreSQL has no built-in).
    return f"nurture_merge_patch({compiler.process(element.clauses, **kw)})"
