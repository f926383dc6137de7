"""How far our verdicts agree with reference labels (Sisimai's) over a labelled corpus.

Every labelled result counts once: its recipient is found or not, and its verdict (hard,
soft, complaint, auto-reply, delivered) is the same or not. When the reference and we each
name one recipient of a message but not the same one, the verdicts are still compared
(it is the same failure) and the miss is listed. Two things are shown but not scored:
verdicts for recipients the reference does not name (``extras``, a false bounce suppresses
a good address, so they are worth watching), and messages in which the reference found
nothing at all, since there the reference, not the parser, may be the one that failed.
Pure: callers read the files and pass bytes and labels in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.bounces.parse import Verdict, parse_bytes

#: Sisimai names a recipient it could not find in an ARF report with this placeholder domain.
_PLACEHOLDER_DOMAIN = ".invalid"

_EXPECTED_KIND = {0: "hard", 1: "soft"}
_NOT_BOUNCE_REASONS = {"feedback": "complaint", "vacation": "auto_reply", "delivered": "not_bounce"}


@dataclass
class Agreement:
    """Counts of labelled results and how many of each we matched."""

    results: int = 0
    recipients_equal: int = 0
    bounces: int = 0
    kind_equal: int = 0
    others: int = 0
    others_equal: int = 0
    empty_messages: int = 0
    empty_equal: int = 0
    extras: int = 0
    misses: list[str] = field(default_factory=list)
    unscored: list[str] = field(default_factory=list)

    @property
    def recipient_rate(self) -> float:
        """Share of labelled results whose recipient we found (0..1)."""
        return self.recipients_equal / self.results if self.results else 1.0

    @property
    def kind_rate(self) -> float:
        """Share of hard/soft labels we gave the same verdict (0..1)."""
        return self.kind_equal / self.bounces if self.bounces else 1.0

    @property
    def other_rate(self) -> float:
        """Share of complaint, auto-reply and delivered labels we matched (0..1)."""
        return self.others_equal / self.others if self.others else 1.0

    def summary(self) -> str:
        """One line per measure, as percentages with counts."""
        return "\n".join(
            [
                f"recipient  {self.recipient_rate:7.2%}  ({self.recipients_equal}/{self.results})",
                f"hard/soft  {self.kind_rate:7.2%}  ({self.kind_equal}/{self.bounces})",
                f"complaint/auto-reply/delivered  {self.other_rate:7.2%}"
                f"  ({self.others_equal}/{self.others})",
                f"extra bounce verdicts (recipient not in the reference)  {self.extras}",
                f"messages the reference found no bounce in  {self.empty_messages}"
                f" (we agree on {self.empty_equal}; not scored)",
            ]
        )


def read_labels(lines: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Read ``labels.jsonl`` lines into ``{file: results}``."""
    labels: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if line.strip():
            row = json.loads(line)
            labels[row["file"]] = row["results"]
    return labels


def _same_recipient(expected: str, verdict: Verdict) -> bool:
    if expected.endswith(_PLACEHOLDER_DOMAIN):
        return verdict.recipient == "" or verdict.recipient.endswith(_PLACEHOLDER_DOMAIN)
    return verdict.recipient == expected.lower()


def compare(name: str, raw: bytes, expected: list[dict[str, Any]], into: Agreement) -> None:
    """Parse one message and add how it compares with its labels to ``into``."""
    verdicts = parse_bytes(raw).verdicts
    bounces = [v for v in verdicts if v.kind in ("hard", "soft")]
    if not expected:
        into.empty_messages += 1
        if not bounces:
            into.empty_equal += 1
        for v in bounces:
            into.unscored.append(f"{name}: we say {v.kind}/{v.reason} {v.recipient}")
        return
    for v in bounces:
        if not any(_same_recipient(label["recipient"], v) for label in expected):
            into.extras += 1
            into.unscored.append(f"{name}: extra {v.kind}/{v.reason} {v.recipient}")
    for label in expected:
        into.results += 1
        matched = next((v for v in verdicts if _same_recipient(label["recipient"], v)), None)
        if matched is not None:
            into.recipients_equal += 1
        elif len(verdicts) == 1 and len(expected) == 1:
            matched = verdicts[0]
        got = matched.kind if matched else "missing"
        want = _EXPECTED_KIND.get(label["softbounce"]) or _NOT_BOUNCE_REASONS.get(
            label["reason"], "not_bounce"
        )
        if label["softbounce"] in _EXPECTED_KIND:
            into.bounces += 1
            into.kind_equal += got == want
        else:
            into.others += 1
            into.others_equal += got == want
        if got != want or matched is None or not _same_recipient(label["recipient"], matched):
            reason = matched.reason if matched else "-"
            into.misses.append(
                f"{name}: {label['recipient']} want {want}/{label['reason']} got {got}/{reason}"
                f" {matched.recipient if matched else ''}"
            )
