"""A/B arithmetic, pure: which bucket a contact falls in, its variant, and the winner.

A contact's bucket is ``(id * 7919) % 100``. The multiplier is prime to 100, so every run
of 100 consecutive ids fills each bucket once: a 20% sample is 20% of a dense audience,
not a guess, and the same contact always lands in the same bucket, so a walk resumed
after a crash draws the same sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Spreads consecutive ids over the hundred buckets (prime to 100).
BUCKET_MULTIPLIER = 7919
BUCKETS = 100


def bucket_of(contact_id: int) -> int:
    """The contact's bucket, 0-99 (the SQL walk computes the same expression)."""
    return (contact_id * BUCKET_MULTIPLIER) % BUCKETS


def in_sample(bucket: int, sample: int) -> bool:
    """Whether a bucket belongs to a ``sample`` percent sample."""
    return bucket < sample


def variant_for(bucket: int, names: Sequence[str]) -> str:
    """The variant a sample bucket receives: buckets are dealt to variants in turn."""
    return names[bucket % len(names)]


@dataclass(frozen=True, slots=True)
class VariantResult:
    """How one variant did: messages sent, and those with a human open (or click)."""

    sent: int
    hits: int

    @property
    def rate(self) -> float:
        """Hits per message sent (0 when none was sent)."""
        return self.hits / self.sent if self.sent else 0.0


def pick_winner(results: Mapping[str, VariantResult], names: Sequence[str]) -> str:
    """The variant with the best rate; a tie goes to the one listed first (A)."""
    best = names[0]
    for name in names[1:]:
        if (
            results.get(name, VariantResult(0, 0)).rate
            > results.get(best, VariantResult(0, 0)).rate
        ):
            best = name
    return best
