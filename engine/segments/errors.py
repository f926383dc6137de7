"""Errors raised while turning a condition into SQL."""

from __future__ import annotations

from engine.errors import InvalidInput


class UnsupportedInSql(InvalidInput):
    """Raised when a condition names something a whole-audience query cannot know.

    ``entry.*`` leaves and refs, ``since: entry`` and ``prop`` outside an event's
    ``where`` only mean something for one enrollment or one event being matched.
    """

    code = "unsupported_in_sql"
