"""Where each value sits in the YAML text, so any finding can be given a line and column."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.journey.diagnostics import Diagnostic, Finding, Path, dotted

Position = tuple[int, int]
"""A 1-based ``(line, column)``."""


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Positions by data path (``("steps", "remind", "next")`` is ``/steps/remind/next``).

    ``keys`` holds where a mapping key is written, ``values`` where its value starts.
    """

    keys: Mapping[Path, Position] = field(default_factory=dict)
    values: Mapping[Path, Position] = field(default_factory=dict)

    def locate(self, path: Path, *, at_key: bool = False) -> Position:
        """Return the position of ``path``, or of its nearest written ancestor (1:1 if none)."""
        key, value = self.keys.get(path), self.values.get(path)
        if key is not None and (at_key or value is None or value[0] != key[0]):
            # A block mapping or list starts on the line below its key; the key reads better.
            return key
        if value is not None:
            return value
        for n in range(len(path) - 1, -1, -1):
            ancestor = path[:n]
            # A missing key is best shown at its parent's key: "steps.welcome" line.
            for table in (self.keys, self.values):
                if ancestor in table:
                    return table[ancestor]
        return (1, 1)

    def place(self, finding: Finding, filename: str) -> Diagnostic:
        """Turn a finding into a diagnostic with a file, line and column."""
        line, col = self.locate(finding.path, at_key=finding.at_key)
        return Diagnostic(
            file=filename,
            line=line,
            col=col,
            severity=finding.severity,
            code=finding.code,
            path=dotted(finding.path),
            message=finding.message,
        )
