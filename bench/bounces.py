"""Bounce parsing over the labelled corpus: speed vs a bare stdlib parse, and agreement.

The corpus (310 real messages with Sisimai's labels) is read from
``NURTURE_BOUNCE_CORPUS`` or the shared data folder. The rate is messages parsed into
verdicts per second; the baseline only builds the stdlib ``email`` message tree, so the
ratio is what classification costs on top of MIME parsing. Agreement with the reference
(recipient, hard/soft) is printed alongside.
"""

from __future__ import annotations

import os
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

from bench.runner import Context, Figure, console, median, rate
from engine.bounces.corpus import messages, score
from engine.bounces.parse import parse_bytes

#: The labelled corpus (``eml/`` and ``labels.jsonl``) unless NURTURE_BOUNCE_CORPUS says otherwise.
DEFAULT_CORPUS = Path("/work/shared/data/bounces")


def run(context: Context) -> list[Figure]:
    folder = Path(os.environ.get("NURTURE_BOUNCE_CORPUS", DEFAULT_CORPUS))
    corpus = [raw for _, raw, _ in messages(folder)]
    agreement = score(folder)
    console.print(agreement.summary())
    parsed, bare = [], []
    for _ in range(context.repeat):
        parsed.append(rate(len(corpus), lambda: [parse_bytes(raw) for raw in corpus]))
        bare.append(
            rate(len(corpus), lambda: [message_from_bytes(r, policy=compat32) for r in corpus])
        )
    return [
        Figure(
            "bounces",
            f"parse {len(corpus)} bounces into verdicts "
            f"(hard/soft {agreement.kind_rate:.1%}, recipient {agreement.recipient_rate:.1%})",
            "messages/s",
            median(parsed),
            "stdlib email parse only",
            median(bare),
            context.repeat,
        )
    ]
