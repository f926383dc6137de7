"""Segments: conditions run as SQL over the whole audience, for counts and previews."""

from engine.segments.errors import UnsupportedInSql
from engine.segments.preview import count_matching, sample_matching
from engine.segments.sql import CONTACT_FIELDS, TRACKING_KINDS, condition_sql

__all__ = [
    "CONTACT_FIELDS",
    "TRACKING_KINDS",
    "UnsupportedInSql",
    "condition_sql",
    "count_matching",
    "sample_matching",
]
