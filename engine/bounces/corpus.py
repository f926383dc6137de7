"""Read a labelled bounce corpus folder (``eml/`` and ``labels.jsonl``) and score the parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.bounces.agreement import Agreement, compare, read_labels


def messages(folder: Path) -> list[tuple[str, bytes, list[dict[str, Any]]]]:
    """Every labelled message: file name, raw bytes and its reference results."""
    labels = read_labels((folder / "labels.jsonl").read_text(encoding="utf-8").splitlines())
    return [(name, (folder / "eml" / name).read_bytes(), labels[name]) for name in sorted(labels)]


def score(folder: Path) -> Agreement:
    """Parse every message of the corpus and compare with its labels."""
    agreement = Agreement()
    for name, raw, expected in messages(folder):
        compare(name, raw, expected, agreement)
    return agreement
