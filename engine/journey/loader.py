"""YAML text to a journey spec, or to every finding that stops it.

ruamel.yaml in round-trip mode keeps each node's line and column; duplicate keys
are found on the composed node tree (so all of them are reported, not just the
first); YAML 1.1 booleans written bare (``yes``, ``no``, ``on``, ``off``) are
flagged because PyYAML-based tools read them as true/false.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from engine.journey.base import KNOWN_KEYS, SpecModel
from engine.journey.conditions import CONDITION_KEYS, CONDITION_TAGS
from engine.journey.diagnostics import Diagnostic, Finding, Path, did_you_mean
from engine.journey.source_map import Position, SourceMap
from engine.journey.spec import JourneySpec
from engine.journey.steps import STEP_TYPES, Step
from engine.journey.steps.base import STEP_ID_PATTERN
from engine.journey.triggers import TRIGGER_KEYS, TRIGGER_TAGS

YAML11_BOOLEANS = frozenset(
    w for word in ("yes", "no", "on", "off") for w in (word, word.title(), word.upper())
)
_CODE = re.compile(r"^[EW]\d{3}$")
_UNION_TAGS = CONDITION_TAGS | TRIGGER_TAGS | {"until:attribute", "until:instant"}
_STEP_ID = re.compile(STEP_ID_PATTERN)
_STEP_ADAPTER: TypeAdapter[Step] = TypeAdapter(Step)
_MISSING = object()
SpecT = TypeVar("SpecT", bound=SpecModel)
_EXIT_KEYS = frozenset(
    {"start", "next", "then", "else", "default", "on_event", "on_timeout", "on_failure"}
)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What the loader made of one file.

    ``spec`` is set only when nothing at all was found. So that
    later passes can still check what is well-formed, ``header`` holds the top
    level validated without steps, and ``steps`` the steps that are valid alone.
    """

    filename: str
    spec: JourneySpec | None
    diagnostics: tuple[Diagnostic, ...]
    source_map: SourceMap = field(default_factory=SourceMap)
    header: JourneySpec | None = None
    steps: Mapping[str, Step] = field(default_factory=dict)
    step_names: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        """Say whether nothing at error level was found."""
        return not any(d.severity == "error" for d in self.diagnostics)


def load_journey(text: str, filename: str = "journey.yaml") -> LoadResult:
    """Parse and schema-check a journey document; never raises on bad input."""
    try:
        return _load(text, filename)
    except RecursionError:
        message = "the document nests too deeply to read"
        return LoadResult(
            filename, None, (Diagnostic(filename, 1, 1, "error", "E100", "<document>", message),)
        )


@dataclass(slots=True)
class _Parsed:
    """A YAML mapping read to plain data, with positions and what reading it found."""

    data: dict[str, Any] | None
    source_map: SourceMap
    diagnostics: list[Diagnostic]
    findings: list[Finding]


def _parse(text: str, filename: str, what: str) -> _Parsed:
    # Parse once: compose the node tree (it has every key, duplicates included, with its
    # mark), then construct the round-trip document from that same tree.
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = True
    try:
        root = yaml.compose(text)
    except YAMLError as exc:
        return _Parsed(None, SourceMap(), [_syntax_error(exc, filename)], [])
    # Before constructing: construction flattens '<<' merges into the nodes in place.
    duplicates = list(_duplicate_keys(root, (), filename)) if root is not None else []
    # Duplicates are reported above, all of them; load on so every other finding shows too.
    try:
        document = None if root is None else yaml.constructor.construct_document(root)
    except YAMLError as exc:
        return _Parsed(None, SourceMap(), [_syntax_error(exc, filename), *duplicates], [])
    if not isinstance(document, CommentedMap):
        found = "an empty file" if document is None else f"a {type(document).__name__}"
        message = f"{what}, found {found}"
        return _Parsed(
            None,
            SourceMap(),
            [Diagnostic(filename, 1, 1, "error", "E100", "<document>", message)],
            [],
        )
    keys: dict[Path, Position] = {}
    values: dict[Path, Position] = {(): (1, 1)}
    findings: list[Finding] = []
    data = _plain(document, (), keys, values, findings)
    return _Parsed(data, SourceMap(keys, values), duplicates, findings)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[SpecT]):
    """A document read into a spec model (None on any finding), its findings and positions."""

    spec: SpecT | None
    diagnostics: tuple[Diagnostic, ...]
    source_map: SourceMap


def load_model(text: str, filename: str, model: type[SpecT], what: str) -> Loaded[SpecT]:
    """Parse a YAML mapping into ``model`` with the journey loader's placed findings.

    ``what`` names the document for an empty or non-mapping file ("a segment is a YAML
    mapping (id, name, condition)"). The model is None whenever a finding was made.
    """
    try:
        parsed = _parse(text, filename, what)
    except RecursionError:
        message = "the document nests too deeply to read"
        diagnostic = Diagnostic(filename, 1, 1, "error", "E100", "<document>", message)
        return Loaded(None, (diagnostic,), SourceMap())
    if parsed.data is None:
        return Loaded(None, tuple(parsed.diagnostics), parsed.source_map)
    context: dict[str, Any] = {}
    result: SpecT | None = None
    try:
        result = model.model_validate(parsed.data, context=context)
    except ValidationError as exc:
        parsed.findings.extend(_schema_findings(exc, parsed.data, context.get(KNOWN_KEYS, {})))
    placed = (parsed.source_map.place(f, filename) for f in _dedupe(parsed.findings))
    diagnostics = tuple(sorted([*parsed.diagnostics, *placed], key=_order))
    return Loaded(None if diagnostics else result, diagnostics, parsed.source_map)


def _load(text: str, filename: str) -> LoadResult:
    parsed = _parse(text, filename, "a journey is a YAML mapping (dsl, id, steps, ...)")
    data, source_map, findings = parsed.data, parsed.source_map, parsed.findings
    if data is None:
        return LoadResult(filename, None, tuple(parsed.diagnostics))

    context: dict[str, Any] = {}
    spec: JourneySpec | None = None
    try:
        spec = JourneySpec.model_validate(data, context=context)
    except ValidationError as exc:
        findings.extend(_schema_findings(exc, data, context.get(KNOWN_KEYS, {})))

    header, steps, names = (
        (spec, dict(spec.steps), frozenset(spec.steps)) if spec else _partial(data)
    )
    diagnostics = [
        *parsed.diagnostics,
        *(source_map.place(f, filename) for f in _dedupe(findings)),
    ]
    if diagnostics:
        spec = None  # a bare yes/no or a duplicate key may have changed the meaning
    return LoadResult(
        filename=filename,
        spec=spec,
        diagnostics=tuple(sorted(diagnostics, key=_order)),
        source_map=source_map,
        header=header,
        steps=steps,
        step_names=names,
    )


def _order(d: Diagnostic) -> tuple[int, int, str]:
    return (d.line, d.col, d.code)


def _syntax_error(exc: YAMLError, filename: str) -> Diagnostic:
    line, col = 1, 1
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            line, col = mark.line + 1, mark.column + 1
        message = ": ".join(p for p in (exc.context, exc.problem) if p) or message
    return Diagnostic(filename, line, col, "error", "E100", "<document>", f"YAML syntax: {message}")


def _duplicate_keys(
    node: Node, path: Path, filename: str, active: frozenset[int] = frozenset()
) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    if id(node) in active:  # a recursive alias; _plain reports it
        return found
    active = active | {id(node)}
    if isinstance(node, MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            mark = key_node.start_mark
            if key in first_line and key != "<<":
                where = ".".join(str(p) for p in (*path, key))
                message = (
                    f"duplicate key '{key}' (first written on line {first_line[key]}); "
                    "YAML would silently keep only one"
                )
                found.append(
                    Diagnostic(
                        filename, mark.line + 1, mark.column + 1, "error", "E105", where, message
                    )
                )
            first_line.setdefault(key, mark.line + 1)
            found.extend(_duplicate_keys(value_node, (*path, key), filename, active))
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, (*path, i), filename, active))
    return found


def _plain(
    node: Any,
    path: Path,
    keys: dict[Path, Position],
    values: dict[Path, Position],
    findings: list[Finding],
    active: frozenset[int] = frozenset(),
) -> Any:
    """Copy ruamel's nodes to plain Python, recording positions and bare YAML 1.1 booleans."""
    if isinstance(node, CommentedMap | CommentedSeq):
        if id(node) in active:
            findings.append(Finding("E100", path, "an alias refers to a node that contains it"))
            return None
        active = active | {id(node)}
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            name = (
                key
                if isinstance(key, str)
                else str(key).lower()
                if isinstance(key, bool)
                else str(key)
            )
            sub = (*path, name)
            try:
                kline, kcol = node.lc.key(key)
                vline, vcol = node.lc.value(key)
            except KeyError:  # merged in with '<<': it sits where the mapping starts
                kline, kcol = vline, vcol = node.lc.line, node.lc.col
            keys[sub] = (kline + 1, kcol + 1)
            values[sub] = (vline + 1, vcol + 1)
            if (type(key) is str and key in YAML11_BOOLEANS) or isinstance(key, bool):
                findings.append(_yaml11_finding(sub, name, at_key=True))
            out[name] = _plain(value, sub, keys, values, findings, active)
        return out
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for i, value in enumerate(node):
            line, col = node.lc.item(i)
            values[(*path, i)] = (line + 1, col + 1)
            items.append(_plain(value, (*path, i), keys, values, findings, active))
        return items
    if type(node) is str and node in YAML11_BOOLEANS:
        findings.append(_yaml11_finding(path, node, at_key=False))
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, datetime | date):
        # Dates stay text: the spec compares ISO dates itself and the schema expects strings.
        return node.isoformat()
    return node


def _yaml11_finding(path: Path, word: str, *, at_key: bool) -> Finding:
    if at_key:
        hint = "; segment triggers use 'when: enters'" if word.lower() == "on" else ""
        message = f"bare key '{word}' is read as a boolean by YAML 1.1 tools; quote it{hint}"
    else:
        message = (
            f"bare '{word}' is read as a boolean by YAML 1.1 tools; "
            "quote it for text or write true/false"
        )
        if path and str(path[-1]) in _EXIT_KEYS:
            message += "; name exits and steps so they never read as yes/no"
    return Finding("E104", path, message, at_key=at_key)


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[Path, Any, Any, bool]:
    """Follow a Pydantic ``loc`` through the data, dropping union tags; return the path,
    the node there (or _MISSING), its parent, and whether the error is about a key."""
    path: list[str | int] = []
    node: Any = data
    parent: Any = None
    is_key = False
    for item in loc:
        if item == "[key]":
            is_key = True
            continue
        in_map = isinstance(node, dict) and item in node
        in_list = isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)
        if in_map or in_list:
            parent, node = node, node[item]
        elif isinstance(item, str) and (item in _UNION_TAGS or item in STEP_TYPES):
            continue
        else:
            parent, node = node, _MISSING
        path.append(item)
    return tuple(path), node, parent, is_key


def _schema_findings(
    error: ValidationError, data: Any, known_keys: Mapping[int, frozenset[str]]
) -> list[Finding]:
    findings = []
    errors = error.errors(include_url=False)
    for err in errors:
        loc = err["loc"]
        if err["type"] == "too_short" and any(
            other["loc"][: len(loc)] == loc and other is not err for other in errors
        ):
            continue  # Pydantic also counts the items that failed; the item errors say more.
        path, node, parent, is_key = _data_path(err["loc"], data)
        findings.append(
            _finding(
                err["type"],
                err["msg"],
                err.get("ctx") or {},
                path,
                node,
                parent,
                is_key,
                known_keys,
            )
        )
    return findings


def _finding(
    kind: str,
    msg: str,
    ctx: Mapping[str, Any],
    path: Path,
    node: Any,
    parent: Any,
    is_key: bool,
    known_keys: Mapping[int, frozenset[str]],
) -> Finding:
    last = path[-1] if path else ""
    if _CODE.match(kind):
        return Finding(kind, path, msg)
    if is_key:
        return Finding(
            "E102",
            path,
            f"invalid step name '{last}': use lower-case letters, digits, '_' and '-'",
            at_key=True,
        )
    if kind == "extra_forbidden":
        known = known_keys.get(id(parent), frozenset())
        return Finding(
            "E101", path, f"unknown key '{last}'{did_you_mean(str(last), known)}", at_key=True
        )
    if kind == "missing":
        return Finding("E103", path, f"missing required key '{last}'")
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag", ""))
        return Finding(
            "E111", (*path, "type"), f"unknown step type '{tag}'{did_you_mean(tag, STEP_TYPES)}"
        )
    if kind == "union_tag_not_found":
        return Finding(
            "E103", (*path, "type"), f"missing required key 'type' ({', '.join(STEP_TYPES)})"
        )
    if kind in ("condition_kind", "trigger_kind"):
        what, choices = (
            ("condition", CONDITION_KEYS) if kind == "condition_kind" else ("trigger", TRIGGER_KEYS)
        )
        code = "E112" if kind == "condition_kind" else "E102"
        if isinstance(node, dict):
            hint = next((h for k in node if (h := did_you_mean(str(k), choices))), "")
            written = ", ".join(f"'{k}'" for k in node) or "nothing"
            return Finding(
                code, path, f"a {what} needs one of {', '.join(choices)}; found {written}{hint}"
            )
        return Finding(
            code, path, f"a {what} is a mapping with one of {', '.join(choices)}, got {node!r}"
        )
    if kind == "string_type" and isinstance(node, bool):
        return Finding(
            "E104", path, f"got the boolean {str(node).lower()} where text is expected; quote it"
        )
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        options = re.findall(r"'([^']*)'", expected)
        hint = did_you_mean(str(node), options) if isinstance(node, str) else ""
        return Finding("E102", path, f"expected {expected}, got {node!r}{hint}")
    if kind == "string_pattern_mismatch":
        return Finding("E102", path, f"{node!r} does not match the pattern {ctx.get('pattern')}")
    shown = f", got {node!r}" if node is not _MISSING and not isinstance(node, dict | list) else ""
    return Finding("E102", path, f"{msg[0].lower()}{msg[1:]}{shown}")


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Keep one finding per (code, path); a bare YAML 1.1 boolean silences the rest at its path."""
    yaml11 = {f.path for f in findings if f.code == "E104"}
    seen: set[tuple[str, Path]] = set()
    kept = []
    for f in findings:
        if (f.code, f.path) in seen or (f.code != "E104" and f.path in yaml11):
            continue
        seen.add((f.code, f.path))
        kept.append(f)
    return kept


def _partial(data: dict[str, Any]) -> tuple[JourneySpec | None, dict[str, Step], frozenset[str]]:
    """Validate the top level without steps, and each step alone, for best-effort later checks."""
    raw_steps = data.get("steps")
    step_data = raw_steps if isinstance(raw_steps, dict) else {}
    header: JourneySpec | None
    try:
        header = JourneySpec.model_validate({**data, "steps": {}})
    except ValidationError:
        header = None
    steps: dict[str, Step] = {}
    for name, value in step_data.items():
        if not _STEP_ID.match(name):
            continue
        try:
            steps[name] = _STEP_ADAPTER.validate_python(value)
        except ValidationError:
            continue
    return header, steps, frozenset(step_data)
