"""Export contacts to CSV in the shape the importer reads back (attributes as dotted columns).

Contacts are walked in keyset batches twice: once to learn the union of attribute paths (the
header must come first), once to write; neither pass holds more than one batch.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from engine.errors import FieldProblem, InvalidInput
from engine.store.db import Database
from engine.store.models import LIFECYCLE_STAGES, Contact, ContactTag, User

BATCH_SIZE = 5_000
COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "timezone",
    "locale",
    "lifecycle_stage",
    "score",
    "grade",
    "owner",
    "tags",
    "created_at",
    "updated_at",
)
ENCODINGS = {"utf-8-sig": "utf-8-sig", "utf-8": "utf-8", "cp932": "cp932"}


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which contacts to export; every given condition must hold."""

    lifecycle_stage: str | None = None
    tag: str | None = None
    updated_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExportResult:
    """How many contacts were written, under which columns."""

    rows: int
    columns: list[str]


def export_contacts(
    database: Database,
    target: IO[bytes],
    *,
    where: ExportFilter | None = None,
    encoding: str = "utf-8-sig",
    batch_size: int = BATCH_SIZE,
) -> ExportResult:
    """Write matching contacts as CSV to a binary stream; tags joined by ``;``.

    ``utf-8-sig`` (the default) starts with a BOM so Excel shows Japanese correctly.
    Raises InvalidInput for a bad filter or encoding, and naming the contact whose text
    the chosen encoding cannot hold (cp932 has no emoji).
    """
    where = where or ExportFilter()
    _check(where, encoding)
    with database.sessions() as session:
        paths = _attribute_paths(session, where, batch_size)
        columns = [*COLUMNS, *(".".join(p) for p in paths)]
        text = io.TextIOWrapper(target, encoding=ENCODINGS[encoding], newline="")
        rows = 0
        try:
            pd.DataFrame(columns=columns).to_csv(text, index=False)
            for batch in _batches(session, where, batch_size):
                frame = _frame(session, batch, paths, columns)
                try:
                    frame.to_csv(text, index=False, header=False)
                except UnicodeEncodeError:
                    raise _unencodable(frame, encoding) from None
                rows += len(batch)
            text.flush()
        finally:
            text.detach()  # the caller owns the stream
    return ExportResult(rows, columns)


def _check(where: ExportFilter, encoding: str) -> None:
    problems = []
    if encoding not in ENCODINGS:
        problems.append(FieldProblem("--encoding", f"choose one of {', '.join(ENCODINGS)}"))
    if where.lifecycle_stage is not None and where.lifecycle_stage not in LIFECYCLE_STAGES:
        problems.append(
            FieldProblem(
                "--stage",
                f"{where.lifecycle_stage!r} is not a lifecycle stage; "
                f"choose from {', '.join(LIFECYCLE_STAGES)}",
            )
        )
    if where.updated_since is not None and where.updated_since.tzinfo is None:
        problems.append(FieldProblem("--updated-since", "needs a time zone offset"))
    if problems:
        raise InvalidInput("bad export options", problems=problems)


def _query(where: ExportFilter, batch_size: int, after: int) -> Select[Contact]:
    query = select(Contact).where(Contact.id > after).order_by(Contact.id).limit(batch_size)
    if where.lifecycle_stage:
        query = query.where(Contact.lifecycle_stage == where.lifecycle_stage)
    if where.updated_since:
        query = query.where(Contact.updated_at >= where.updated_since)
    if where.tag:
        query = query.where(
            select(ContactTag.contact_id)
            .where(ContactTag.contact_id == Contact.id, ContactTag.tag == where.tag)
            .exists()
        )
    return query


def _batches(session: Session, where: ExportFilter, batch_size: int) -> Iterator[list[Contact]]:
    after = 0
    while batch := list(session.scalars(_query(where, batch_size, after))):
        yield batch
        after = batch[-1].id
        session.expunge_all()  # keep memory flat: one batch of contacts at a time


def _attribute_paths(
    session: Session, where: ExportFilter, batch_size: int
) -> list[tuple[str, ...]]:
    """The union of leaf paths over every exported contact's attributes, sorted."""
    paths: set[tuple[str, ...]] = set()
    after = 0
    while True:
        query = _query(where, batch_size, after).with_only_columns(Contact.id, Contact.attributes)
        batch = session.execute(query).all()
        if not batch:
            return sorted(paths)
        for _, attributes in batch:
            paths.update(path for path, _ in _leaves(attributes or {}))
        after = batch[-1][0]


def _leaves(
    document: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in document.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def _cell(value: Any) -> str:
    """Text as it is; numbers, booleans, lists and empty objects in their JSON form."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _frame(
    session: Session, batch: list[Contact], paths: list[tuple[str, ...]], columns: list[str]
) -> pd.DataFrame:
    ids = [c.id for c in batch]
    tags: dict[int, list[str]] = {}
    for contact_id, tag in session.execute(
        select(ContactTag.contact_id, ContactTag.tag)
        .where(ContactTag.contact_id.in_(ids))
        .order_by(ContactTag.contact_id, ContactTag.tag)
    ):
        tags.setdefault(contact_id, []).append(tag)
    owner_ids = {c.owner_id for c in batch if c.owner_id}
    owners = (
        dict(session.execute(select(User.id, User.email).where(User.id.in_(owner_ids))).all())
        if owner_ids
        else {}
    )
    records = []
    for c in batch:
        flat = {".".join(path): _cell(value) for path, value in _leaves(c.attributes or {})}
        records.append(
            [
                c.email,
                c.first_name,
                c.last_name,
                c.timezone,
                c.locale,
                c.lifecycle_stage,
                c.score,
                c.grade,
                owners.get(c.owner_id) if c.owner_id else None,
                ";".join(tags.get(c.id, [])),
                c.created_at.isoformat(),
                c.updated_at.isoformat(),
                *(flat.get(".".join(p)) for p in paths),
            ]
        )
    return pd.DataFrame(records, columns=columns)


def _unencodable(frame: pd.DataFrame, encoding: str) -> InvalidInput:
    """Name the first contact the encoding cannot write, and the value that fails."""
    for record in frame.itertuples(index=False):
        for column, value in zip(frame.columns, record, strict=True):
            if isinstance(value, str):
                try:
                    value.encode(encoding)
                except UnicodeEncodeError as error:
                    return InvalidInput(
                        f"{encoding} cannot hold {value[error.start : error.end]!r}",
                        problems=[
                            FieldProblem(
                                f"{record[0]}: {column}",
                                f"{value!r}; export with --encoding utf-8 instead",
                            )
                        ],
                    )
    return InvalidInput(f"{encoding} cannot hold some text; export with --encoding utf-8")
