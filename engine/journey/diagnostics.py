"""Findings with places: what validation returns instead of raising."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
PathItem = str | int
Path = tuple[PathItem, ...]


def dotted(path: Path) -> str:
    """Render a data path the way marketers read it: ``steps.remind.next``, ``triggers[0]``."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else item
    return out or "<document>"


def pointer(path: Path) -> str:
    """Render a data path as a JSON Pointer (RFC 6901), for the UI and an LSP."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem found at a data path, before it is given a line and column."""

    code: str
    path: Path
    message: str
    at_key: bool = False

    @property
    def severity(self) -> Severity:
        """Warnings are the ``W`` codes; everything else stops a publish."""
        return "warning" if self.code.startswith("W") else "error"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding placed in a file; line and column are 1-based."""

    file: str
    line: int
    col: int
    severity: Severity
    code: str
    path: str
    message: str

    def format(self) -> str:
        """Render like a compiler: ``file:line:col: error[E201] path: message``."""
        return (
            f"{self.file}:{self.line}:{self.col}: "
            f"{self.severity}[{self.code}] {self.path}: {self.message}"
        )

    def to_dict(self) -> dict[str, str | int]:
        """Return the finding as JSON-ready data for the admin UI."""
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "severity": self.severity,
            "code": self.code,
            "path": self.path,
            "message": self.message,
        }


def to_json(diagnostics: Iterable[Diagnostic]) -> list[dict[str, str | int]]:
    """Return findings as a JSON-serialisable list of dicts."""
    return [d.to_dict() for d in diagnostics]


def format_all(diagnostics: Sequence[Diagnostic]) -> str:
    """Render findings one per line, in file order."""
    return "\n".join(d.format() for d in diagnostics)


CODES: dict[str, str] = {
    "E100": "the file is not a readable YAML mapping (syntax error, empty, several documents)",
    "E101": "unknown key",
    "E102": "wrong type or invalid value",
    "E103": "missing required key",
    "E104": "a YAML 1.1 boolean (yes/no/on/off, or true/false) where text is expected",
    "E105": "duplicate key",
    "E106": "bad duration (months and years are refused)",
    "E107": "bad time of day (HH:MM)",
    "E108": "unknown IANA time zone",
    "E109": "bad cron expression",
    "E110": "unsupported dsl version",
    "E111": "unknown step type",
    "E112": "malformed condition (no kind, empty all/any, not exactly one operator, bad ref)",
    "E113": "a name used twice in one list (variants, split paths, goals)",
    "E201": "unknown step (start, an exit, on_error.then, an email condition, migrate)",
    "E202": "unknown template",
    "E203": "unknown segment",
    "E204": "unknown topic",
    "E205": "unknown sales pool",
    "E206": "webhook host not on the allowlist",
    "E207": "entry.* used although some trigger provides no entry event",
    "E208": "an email condition names a step that is not a send_email step",
    "E209": "unknown goal",
    "E210": "unknown contact attribute (when the contact schema is known)",
    "E301": "step unreachable from start",
    "E302": "step with a missing exit",
    "E303": "no path from a step reaches an exit step",
    "E304": "loop without a wait or wait_for",
    "E401": "weights do not add up to 100",
    "E402": "branch cases without a default",
    "E403": "wait_for without a timeout",
    "E404": "email condition with no send before it on some path",
    "E405": "handoff without a fallback",
    "E406": "date trigger or wait-until attribute is not a date",
    "E407": "schedule trigger without an audience",
    "E408": "conflicting or incomplete options for a step",
    "E409": "prop outside an event's where/match",
    "E410": "operator does not fit the attribute's type",
    "E411": "send_email without a sender",
    "W401": "cooldown shorter than the longest timed path",
    "E501": "a step of the active version was removed without a migrate entry",
}
"""Every diagnostic code with a one-line meaning; docs/journey-dsl.md explains each."""
