"""Import contacts from a CSV file: map columns, validate per batch, upsert the good rows.

Records are read with the stdlib ``csv`` module, which knows where each one starts even when
a quoted value spans lines; each batch of records then becomes a pandas DataFrame so that
cleaning and validation are column operations, and every distinct value is checked once.
Each batch is written in a transaction of its own, so a crash leaves whole batches only and
running the same file again changes nothing but ``updated_at``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import IO, Any, Literal, cast

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.contacts.fields import check_locale, check_timezone, normalize_email
from engine.contacts.schemas import MAX_ATTRIBUTES_BYTES, ConsentIn
from engine.contacts.service import (
    ContactRow,
    UpsertResult,
    add_tags,
    dialect_insert,
    record_consent,
    upsert_contacts,
)
from engine.errors import FieldProblem, InvalidInput
from engine.store.db import Database
from engine.store.models import (
    LIFECYCLE_STAGES,
    Contact,
    ContactList,
    ListMember,
    User,
)

BATCH_SIZE = 5_000
FIELDS = (
    "email",
    "first_name",
    "last_name",
    "timezone",
    "locale",
    "lifecycle_stage",
    "owner",
    "tags",
)
#: Columns our own export writes that the database sets by itself; importing them is a no-op.
SET_BY_NURTURE = ("score", "grade", "created_at", "updated_at")
#: The column ``--errors`` adds; re-importing a fixed errors file must not store it.
ERRORS_COLUMN = "error"
MAX_NAME = 200
MAX_TAG = 100
MAX_LIST_KEY = 100
_TAG_SEPARATORS = r"[;|]"

#: Header spellings seen in CRM and spreadsheet exports, after ``_header_key`` folding.
_ALIASES: dict[str, str] = {
    **dict.fromkeys(("email", "emailaddress", "mail", "mailaddress", "eメール"), "email"),
    **dict.fromkeys(("メール", "メールアドレス", "eメールアドレス", "電子メール"), "email"),
    **dict.fromkeys(("firstname", "givenname", "first", "forename"), "first_name"),
    **dict.fromkeys(("名", "下の名前", "ファーストネーム"), "first_name"),
    **dict.fromkeys(("lastname", "familyname", "surname", "last"), "last_name"),
    **dict.fromkeys(("姓", "苗字", "名字", "ラストネーム"), "last_name"),
    **dict.fromkeys(("timezone", "tz", "タイムゾーン"), "timezone"),
    **dict.fromkeys(("locale", "language", "lang", "言語"), "locale"),
    **dict.fromkeys(("lifecyclestage", "stage", "lifecycle", "ステージ"), "lifecycle_stage"),
    **dict.fromkeys(("ライフサイクルステージ",), "lifecycle_stage"),
    **dict.fromkeys(
        ("owner", "owneremail", "担当者", "担当者メール", "担当者メールアドレス"), "owner"
    ),
    **dict.fromkeys(("tags", "tag", "タグ"), "tags"),
}
_ENCODING_NAMES = {
    "utf8": "utf-8-sig",
    "utf-8": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
    "cp932": "cp932",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
}


class UnreadableFile(InvalidInput):
    """Raised when the file as a whole cannot be imported: missing, not CSV, no email column."""

    code = "unreadable_file"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """What is wrong with one row, at the physical line where the row starts."""

    line: int
    field: str
    message: str
    warning: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    """Where one column goes: a contact field, an attribute path, or nowhere."""

    kind: Literal["field", "attribute", "ignore"]
    name: str = ""

    @property
    def path(self) -> tuple[str, ...]:
        """The attribute path (``subscription.end_date`` → two keys)."""
        return tuple(self.name.split("."))

    def describe(self) -> str:
        """How the summary names the target."""
        return {"field": self.name, "attribute": f"attributes.{self.name}", "ignore": "-"}[
            self.kind
        ]


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read the file and what to do besides the upsert.

    ``overrides`` maps a column to a field, ``attributes.path`` or ``-`` (ignore).
    ``max_errors`` stops the import once more rows than that are bad.
    """

    encoding: str = "auto"
    overrides: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    list_key: str | None = None
    consent: ConsentIn | None = None
    dry_run: bool = False
    max_errors: int | None = None
    batch_size: int = BATCH_SIZE
    errors_path: Path | None = None


@dataclass(slots=True)
class ImportResult:
    """Counts and per-row problems of one import (``created``/``updated`` count contacts)."""

    source: str
    encoding: str
    columns: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    stopped_at_line: int | None = None
    dry_run: bool = False

    @property
    def errors(self) -> list[RowProblem]:
        """Problems that kept a row out."""
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[RowProblem]:
        """Problems that did not keep a row out (an email repeated later in the file)."""
        return [p for p in self.problems if p.warning]


Progress = Callable[[int, float], None]


def import_contacts(
    database: Database,
    source: Path | IO[bytes],
    options: ImportOptions | None = None,
    *,
    name: str | None = None,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> ImportResult:
    """Import a CSV file of contacts; bad rows are reported in the result, good rows stored.

    ``source`` is a path or a binary stream; ``name`` is how problems name it (default: the
    file name). ``progress`` gets (rows done, fraction of the file read) after each batch.
    Raises UnreadableFile when the file cannot be read at all, and InvalidInput for bad
    options; both before anything is written.
    """
    options = options or ImportOptions()
    _check_options(options)
    raw, label = _open(source, name)
    try:
        encoding = _choose_encoding(raw, options.encoding)
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        reader = csv.reader(text)
        header = _read_header(reader)
        targets = map_columns(header, options.overrides)
        result = ImportResult(source=label, encoding=encoding, dry_run=options.dry_run)
        result.columns = [(h, t.describe()) for h, t in zip(header, targets, strict=True)]
        result.notes = _notes(header, targets, options.overrides)
        run = _Run(database, options, result, header, targets, clock)
        size = max(_size(raw), 1)
        with _errors_writer(options.errors_path, header, encoding) as errors_out:
            run.errors_out = errors_out
            for chunk in _chunks(reader, options.batch_size, result):
                if not run.batch(chunk):
                    break
                if progress is not None:
                    progress(result.rows_read, min(raw.tell() / size, 1.0))
        return result
    finally:
        if isinstance(source, Path):
            raw.close()


def map_columns(header: Sequence[str], overrides: Mapping[str, str]) -> list[Target]:
    """Decide where each column goes: ``overrides`` first, then field names and aliases.

    Raises UnreadableFile naming every problem (unknown override column or target, two
    columns for one field, no email column).
    """
    problems: list[FieldProblem] = []
    chosen: dict[int, Target] = {}
    for column, wanted in overrides.items():
        index = _find_column(header, column)
        if index is None:
            problems.append(
                FieldProblem(
                    f"--map {column}", f"no such column; the header has {_listing(header)}"
                )
            )
            continue
        try:
            chosen[index] = _parse_target(wanted)
        except ValueError as error:
            problems.append(FieldProblem(f"--map {column}={wanted}", str(error)))
    targets: list[Target] = []
    for index, title in enumerate(header):
        if index in chosen:
            targets.append(chosen[index])
            continue
        key = _header_key(title)
        if not key or key == ERRORS_COLUMN or key in {_header_key(s) for s in SET_BY_NURTURE}:
            targets.append(Target("ignore"))
        elif key in _ALIASES:
            targets.append(Target("field", _ALIASES[key]))
        else:
            try:
                targets.append(_parse_target(f"attributes.{title.strip()}"))
            except ValueError as error:
                problems.append(FieldProblem(f"column {title!r}", str(error)))
                targets.append(Target("ignore"))
    problems += _clashes(header, targets)
    if not any(t == Target("field", "email") for t in targets):
        problems.append(
            FieldProblem(
                "email",
                f"no email column; the header has {_listing(header)} "
                "(name it with --map COLUMN=email)",
            )
        )
    if problems:
        raise UnreadableFile("cannot map the columns", problems=problems)
    return targets


def _parse_target(text: str) -> Target:
    text = text.strip()
    if text == "-":
        return Target("ignore")
    if text in FIELDS:
        return Target("field", text)
    if text.startswith("attributes."):
        path = text.removeprefix("attributes.")
        for key in path.split("."):
            if not key or key.startswith("$"):
                raise ValueError(
                    f"{path!r} is not an attribute path (dot-separated names, none empty or "
                    "starting with '$')"
                )
        return Target("attribute", path)
    raise ValueError(f"choose one of {', '.join(FIELDS)}, attributes.NAME or - (ignore)")


def _clashes(header: Sequence[str], targets: Sequence[Target]) -> list[FieldProblem]:
    """Two columns for one field, or an attribute that is also an object of others."""
    problems: list[FieldProblem] = []
    seen: dict[Target, str] = {}
    paths: dict[tuple[str, ...], str] = {}
    for title, target in zip(header, targets, strict=True):
        if target.kind == "ignore":
            continue
        if target in seen:
            problems.append(
                FieldProblem(
                    target.describe(),
                    f"columns {seen[target]!r} and {title!r} both map here; "
                    f"ignore one with --map '{title}=-'",
                )
            )
        seen[target] = title
        if target.kind == "attribute":
            paths[target.path] = title
    for path, title in paths.items():
        for depth in range(1, len(path)):
            if path[:depth] in paths:
                problems.append(
                    FieldProblem(
                        f"attributes.{'.'.join(path)}",
                        f"column {paths[path[:depth]]!r} is a value, so {title!r} cannot "
                        "be a key inside it",
                    )
                )
    return problems


def _header_key(title: str) -> str:
    """Fold a header for alias lookup: width, case, spaces, ``-`` and ``_`` do not matter."""
    folded = unicodedata.normalize("NFKC", title).strip().casefold()
    return re.sub(r"[\s_\-・]+", "", folded)


def _find_column(header: Sequence[str], column: str) -> int | None:
    for index, title in enumerate(header):
        if title == column:
            return index
    wanted = column.strip().casefold()
    for index, title in enumerate(header):
        if title.strip().casefold() == wanted:
            return index
    return None


def _notes(
    header: Sequence[str], targets: Sequence[Target], overrides: Mapping[str, str]
) -> list[str]:
    overridden = {_find_column(header, column) for column in overrides}
    ignored = [
        title
        for index, (title, target) in enumerate(zip(header, targets, strict=True))
        if target.kind == "ignore" and index not in overridden
    ]
    if not ignored:
        return []
    return [
        f"columns ignored: {_listing(ignored)} (set by Nurture, an errors file's notes, or "
        "unnamed; import one with --map COLUMN=FIELD)"
    ]


def _listing(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names) if names else "no columns"


def _check_options(options: ImportOptions) -> None:
    problems = [
        FieldProblem("--tag", f"{t!r} must be 1 to {MAX_TAG} characters")
        for t in options.tags
        if not t.strip() or len(t.strip()) > MAX_TAG
    ]
    if options.list_key is not None and not 0 < len(options.list_key.strip()) <= MAX_LIST_KEY:
        problems.append(FieldProblem("--list", f"must be 1 to {MAX_LIST_KEY} characters"))
    if options.max_errors is not None and options.max_errors < 0:
        problems.append(FieldProblem("--max-errors", "must be 0 or more"))
    if options.batch_size < 1:
        problems.append(FieldProblem("batch_size", "must be at least 1"))
    if options.encoding != "auto":
        try:
            codecs.lookup(options.encoding)
        except LookupError:
            problems.append(
                FieldProblem("--encoding", f"unknown encoding {options.encoding!r}; try auto")
            )
    if problems:
        raise InvalidInput("bad import options", problems=problems)


# -- reading the file ---------------------------------------------------------------------


def _open(source: Path | IO[bytes], name: str | None) -> tuple[IO[bytes], str]:
    if isinstance(source, Path):
        if source.is_dir():
            raise UnreadableFile(f"{source} is a folder, not a CSV file")
        try:
            return source.open("rb"), name or source.name
        except FileNotFoundError:
            raise UnreadableFile(f"{source}: no such file") from None
        except OSError as error:
            raise UnreadableFile(f"{source}: {error.strerror or error}") from None
    if not source.seekable():  # encoding detection reads the file twice
        source = io.BytesIO(source.read())
    return source, name or "-"


def _size(raw: IO[bytes]) -> int:
    position = raw.tell()
    size = raw.seek(0, io.SEEK_END)
    raw.seek(position)
    return size


def _choose_encoding(raw: IO[bytes], wanted: str) -> str:
    """Check the whole file decodes before anything is written; detect UTF-8 vs cp932."""
    head = raw.read(4096)
    raw.seek(0)
    if not head:
        raise UnreadableFile("the file is empty")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
        raise UnreadableFile(
            "this is not a CSV text file (binary, or UTF-16 'Unicode text'); "
            "save it as 'CSV UTF-8' or 'CSV' from the spreadsheet"
        )
    if wanted != "auto":
        encoding = _ENCODING_NAMES.get(wanted.lower(), codecs.lookup(wanted).name)
        failure = _decode_failure(raw, encoding)
        if failure:
            raise UnreadableFile(f"the file is not {wanted}: {failure}; try --encoding auto")
        return encoding
    if head.startswith(codecs.BOM_UTF8) or not _decode_failure(raw, "utf-8"):
        return "utf-8-sig"
    if not _decode_failure(raw, "cp932"):
        return "cp932"
    raise UnreadableFile(
        "the file is neither UTF-8 nor Shift_JIS (cp932); name its encoding with --encoding"
    )


def _decode_failure(raw: IO[bytes], encoding: str) -> str | None:
    """Decode the whole file without keeping it; say where it fails, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    try:
        while block := raw.read(1 << 20):
            decoder.decode(block)
            offset += len(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        return f"byte {offset + max(error.start, 0):,} cannot be decoded"
    finally:
        raw.seek(0)
    return None


def _read_header(reader: Any) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile("the file is empty") from None
    except csv.Error as error:
        raise UnreadableFile(f"line 1: not CSV: {error}") from None
    header = [h.removeprefix("\ufeff") for h in header]
    if len(header) == 1 and ("\t" in header[0] or ";" in header[0]):
        separator = "tabs" if "\t" in header[0] else "semicolons"
        raise UnreadableFile(
            f"the header is one column separated by {separator}; "
            "save the file as CSV (comma-separated)"
        )
    return header


@dataclass(slots=True)
class _Chunk:
    lines: list[int] = field(default_factory=list)
    records: list[list[str]] = field(default_factory=list)
    broken: list[tuple[int, list[str], str]] = field(default_factory=list)


def _chunks(reader: Any, size: int, result: ImportResult) -> Iterator[_Chunk]:
    """Group records in batches, each with the physical line where it starts."""
    width = len(result.columns)
    chunk = _Chunk()
    end = reader.line_num
    while True:
        start = end + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            chunk.broken.append((start, [], f"cannot be read as CSV: {error}"))
            result.rows_read += 1
            result.stopped_at_line = start
            break
        end = reader.line_num
        if not record or not any(record):
            continue  # blank lines and rows of empty cells, as spreadsheets leave at the end
        result.rows_read += 1
        if len(record) != width:
            chunk.broken.append((start, record, _width_problem(record, width)))
        else:
            chunk.lines.append(start)
            chunk.records.append(record)
        if len(chunk.lines) + len(chunk.broken) >= size:
            yield chunk
            chunk = _Chunk()
    if chunk.lines or chunk.broken:
        yield chunk


def _width_problem(record: list[str], width: int) -> str:
    hint = ""
    if any("\n" in value or "\r" in value for value in record):
        hint = " (an unclosed double quote?)"
    elif len(record) > width:
        hint = f" (extra values: {', '.join(repr(v) for v in record[width:])}; a comma inside a value needs the value in double quotes)"
    return f"has {len(record)} values but the header has {width} columns{hint}"


# -- validating and writing a batch -------------------------------------------------------


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass(slots=True)
class _Good:
    line: int
    row: ContactRow
    tags: list[str]


class _Run:
    """State of one import across batches: caches, emails seen, the errors file."""

    def __init__(
        self,
        database: Database,
        options: ImportOptions,
        result: ImportResult,
        header: list[str],
        targets: list[Target],
        clock: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.options = options
        self.result = result
        self.header = header
        self.clock = clock
        self.fields = {t.name: i for i, t in enumerate(targets) if t.kind == "field"}
        self.attributes = [(i, t.path) for i, t in enumerate(targets) if t.kind == "attribute"]
        self.line_of: dict[str, int] = {}  # email -> line of its latest good row
        self.counted: set[str] = set()
        self.checked: dict[str, dict[str, tuple[str | None, str | None]]] = {}
        self.owners: dict[str, int | None] = {}
        self.tags = tuple(t.strip() for t in options.tags)
        self.errors_out: Any = None
        self.list_key = options.list_key.strip() if options.list_key else None
        self.reason = f"imported from {result.source}"

    def batch(self, chunk: _Chunk) -> bool:
        """Validate and store one batch; False once ``max_errors`` is passed."""
        problems: list[RowProblem] = [RowProblem(line, "", m) for line, _, m in chunk.broken]
        good: list[_Good] = []
        if chunk.records:
            frame = pd.DataFrame(chunk.records, dtype=object)
            frame.index = pd.Index(chunk.lines)
            good, found = self._validate(frame)
            problems += found
        problems.sort(key=lambda p: p.line)
        keep_going = self._within_limit(problems)
        stop = self.result.stopped_at_line
        if stop is not None:  # rows after the limit-crossing one were read but not looked at
            good = [g for g in good if g.line < stop]
            self.result.rows_read -= sum(1 for line in chunk.lines if line > stop)
            self.result.rows_read -= sum(1 for line, _, _ in chunk.broken if line > stop)
        good = self._note_duplicates(good)
        self._store(good)
        self.result.problems += problems
        bad_lines = {p.line for p in problems}
        self.result.skipped += len(bad_lines)
        self._write_errors(chunk, problems)
        return keep_going and self.result.stopped_at_line is None

    def _within_limit(self, problems: list[RowProblem]) -> bool:
        limit = self.options.max_errors
        if limit is None:
            return True
        before = self.result.skipped
        lines = sorted({p.line for p in problems})
        if before + len(lines) <= limit:
            return True
        stop = lines[limit - before]
        self.result.stopped_at_line = stop
        problems[:] = [p for p in problems if p.line <= stop]
        return False

    def _validate(self, frame: pd.DataFrame) -> tuple[list[_Good], list[RowProblem]]:
        frame = frame.apply(lambda column: column.str.strip())
        found: list[tuple[int, str, str]] = []  # (line, field, message)
        values: dict[str, pd.Series[Any]] = {}
        for name, index in self.fields.items():
            column: pd.Series[Any] = frame[index]
            given = column != ""
            if name == "email":
                checked, bad = self._check_unique(column, normalize_email, "email", cache=False)
                found += [(line, "email", "is required") for line in column.index[~given]]
            elif name in ("first_name", "last_name"):
                too_long = column.str.len() > MAX_NAME
                checked = column
                bad = too_long.map({True: f"is longer than {MAX_NAME} characters", False: None})
            elif name == "timezone":
                known = column.isin(_timezones())
                checked, bad = self._check_unique(
                    column.where(~known, ""), check_timezone, "timezone"
                )
                checked = column.where(known, checked)
            elif name == "locale":
                checked, bad = self._check_unique(column, check_locale, "locale")
            elif name == "lifecycle_stage":
                lowered = column.str.lower()
                stage_ok = lowered.isin(LIFECYCLE_STAGES) | ~given
                checked = lowered.where(stage_ok, "")
                bad = column.map(
                    lambda v: (
                        f"{v!r} is not a lifecycle stage; choose from {', '.join(LIFECYCLE_STAGES)}"
                    )
                ).where(~stage_ok, None)
            elif name == "owner":
                checked, bad = self._check_owners(column)
            else:  # tags
                checked, bad = self._check_tags(column)
            values[name] = checked
            found += [(cast(int, line), name, str(m)) for line, m in bad.dropna().items()]
        attributes = self._attributes(frame, found)
        bad_lines = {line for line, _, _ in found}
        good: list[_Good] = []
        empty = [None] * len(frame)
        columns = {name: values[name].tolist() if name in values else empty for name in FIELDS}
        for position, line in enumerate(frame.index):
            if line in bad_lines:
                continue
            owner = columns["owner"][position]
            good.append(
                _Good(
                    line,
                    ContactRow(
                        email=str(columns["email"][position]),
                        first_name=columns["first_name"][position] or None,
                        last_name=columns["last_name"][position] or None,
                        timezone=columns["timezone"][position] or None,
                        locale=columns["locale"][position] or None,
                        lifecycle_stage=columns["lifecycle_stage"][position] or None,
                        owner_id=self.owners.get(owner) if owner else None,
                        attributes=attributes[position],
                    ),
                    columns["tags"][position] or [],
                )
            )
        problems = [RowProblem(line, name, message) for line, name, message in found]
        return good, problems

    def _check_unique(
        self,
        column: pd.Series[Any],
        check: Callable[[str], str],
        name: str,
        *,
        cache: bool = True,
    ) -> tuple[pd.Series[Any], pd.Series[Any]]:
        """Run ``check`` once per distinct non-empty value; return (clean values, messages)."""
        seen = self.checked.setdefault(name, {}) if cache else {}
        for value in column.unique():
            if value and value not in seen:
                try:
                    seen[value] = (check(value), None)
                except ValueError as error:
                    seen[value] = (None, str(error))
        clean = column.map(lambda v: seen[v][0] if v else "")
        messages = column.map(lambda v: seen[v][1] if v else None)
        return clean.fillna(""), messages

    def _check_owners(self, column: pd.Series[Any]) -> tuple[pd.Series[Any], pd.Series[Any]]:
        clean, messages = self._check_unique(column, normalize_email, "owner")
        wanted = {e for e in clean.unique() if e and e not in self.owners}
        if wanted:
            with self.database.sessions() as session:
                found = dict(
                    session.execute(select(User.email, User.id).where(User.email.in_(wanted))).all()
                )
            for email in wanted:
                self.owners[email] = found.get(email)
        unknown = clean.map(lambda e: bool(e) and self.owners.get(e) is None)
        messages = messages.where(
            ~unknown, clean.map(lambda e: f"no user with email {e!r} (owners must be users)")
        )
        return clean, messages

    def _check_tags(self, column: pd.Series[Any]) -> tuple[pd.Series[Any], pd.Series[Any]]:
        """Split each distinct cell once: tag columns repeat a few combinations."""
        split: dict[str, list[str]] = {}
        messages: dict[str, str | None] = {}
        for cell in column.unique():
            tags = [t.strip() for t in re.split(_TAG_SEPARATORS, cell) if t.strip()]
            split[cell] = tags
            too_long = [t for t in tags if len(t) > MAX_TAG]
            messages[cell] = (
                f"tag {too_long[0]!r} is longer than {MAX_TAG} characters" if too_long else None
            )
        return column.map(split), column.map(messages)

    def _attributes(
        self, frame: pd.DataFrame, found: list[tuple[int, str, str]]
    ) -> list[dict[str, Any]]:
        """Nest the attribute columns per row; empty cells are left out (keep stored)."""
        if not self.attributes:
            return [{} for _ in range(len(frame))]
        lengths = sum(frame[i].str.len() for i, _ in self.attributes)
        oversize = set(frame.index[lengths * 4 > MAX_ATTRIBUTES_BYTES])  # UTF-8: ≤ 4 bytes/char
        cells = [frame[i].tolist() for i, _ in self.attributes]
        paths = [path for _, path in self.attributes]
        nested: list[dict[str, Any]] = []
        for position, line in enumerate(frame.index):
            document: dict[str, Any] = {}
            for path, column in zip(paths, cells, strict=True):
                value = column[position]
                if value:
                    node = document
                    for key in path[:-1]:
                        node = node.setdefault(key, {})
                    node[path[-1]] = value
            if line in oversize:
                size = len(json.dumps(document, ensure_ascii=False).encode())
                if size > MAX_ATTRIBUTES_BYTES:
                    found.append(
                        (
                            int(line),
                            "attributes",
                            f"are {size} bytes; the limit is {MAX_ATTRIBUTES_BYTES}",
                        )
                    )
            nested.append(document)
        return nested

    def _note_duplicates(self, good: list[_Good]) -> list[_Good]:
        """Warn at each earlier row of a repeated email; the later row's values win."""
        for item in good:
            email = item.row.email
            earlier = self.line_of.get(email)
            if earlier is not None:
                self.result.problems.append(
                    RowProblem(
                        earlier,
                        "email",
                        f"{email!r} appears again on line {item.line}; the later row's values win",
                        warning=True,
                    )
                )
            self.line_of[email] = item.line
        return good

    def _store(self, good: list[_Good]) -> None:
        if not good:
            return
        rows = [g.row for g in good]
        if self.options.dry_run:
            emails = {r.email for r in rows}
            with self.database.sessions() as session:
                stored = set(
                    session.scalars(select(Contact.email).where(Contact.email.in_(emails)))
                )
            self._count(UpsertResult(dict.fromkeys(emails, 0), emails - stored))
            return
        with self.database.unit_of_work() as session:
            now = self.clock()
            upserted = upsert_contacts(session, rows, now=now, reason=self.reason)
            ids = upserted.ids
            add_tags(
                session,
                {(ids[g.row.email], t) for g in good for t in (*g.tags, *self.tags)},
                now=now,
            )
            if self.list_key:
                self._add_to_list(session, set(ids.values()), now=now)
            if self.options.consent is not None:
                consent = self.options.consent
                record_consent(session, [(i, consent) for i in sorted(set(ids.values()))], now=now)
        self._count(upserted)

    def _count(self, upserted: UpsertResult) -> None:
        for email in upserted.ids:
            if email in self.counted:
                continue  # repeated in an earlier batch: counted there
            self.counted.add(email)
            if email in upserted.created:
                self.result.created += 1
            else:
                self.result.updated += 1

    def _add_to_list(self, session: Session, contact_ids: set[int], *, now: datetime) -> None:
        assert self.list_key is not None
        session.execute(
            dialect_insert(session, ContactList).on_conflict_do_nothing(
                index_elements=[ContactList.key]
            ),
            {"key": self.list_key, "name": self.list_key, "created_at": now},
        )
        list_id = session.scalar(select(ContactList.id).where(ContactList.key == self.list_key))
        session.execute(
            dialect_insert(session, ListMember.__table__).on_conflict_do_nothing(),
            [
                {"list_id": list_id, "contact_id": c, "added_at": now, "source": "csv_import"}
                for c in sorted(contact_ids)
            ],
        )

    def _write_errors(self, chunk: _Chunk, problems: list[RowProblem]) -> None:
        if self.errors_out is None or not problems:
            return
        messages: dict[int, list[str]] = {}
        for p in problems:
            messages.setdefault(p.line, []).append(
                f"{p.field}: {p.message}" if p.field else p.message
            )
        records = dict(zip(chunk.lines, chunk.records, strict=True))
        records.update({line: record for line, record, _ in chunk.broken})
        width = len(self.header)
        for line in sorted(messages):
            record = records.get(line, [])
            cells = (record + [""] * width)[:width]
            self.errors_out.writerow([*cells, f"line {line}: " + "; ".join(messages[line])])


class _errors_writer:  # noqa: N801 - used as a context manager, like open()
    """The ``--errors`` CSV: the header, the bad rows as read, and an ``error`` column."""

    def __init__(self, path: Path | None, header: list[str], encoding: str) -> None:
        self.path, self.header, self.encoding = path, header, encoding
        self.handle: IO[str] | None = None

    def __enter__(self) -> Any:
        if self.path is None:
            return None
        self.handle = self.path.open("w", encoding=self.encoding, errors="replace", newline="")
        writer = csv.writer(self.handle)
        writer.writerow([*self.header, ERRORS_COLUMN])
        return writer

    def __exit__(self, *_: object) -> None:
        if self.handle is not None:
            self.handle.close()
