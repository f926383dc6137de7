"""``merge_patch`` is RFC 7396 on both databases: SQLite's json_patch and our PostgreSQL function."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import literal, select

from engine.store.types import Json, merge_patch

KEYS = st.sampled_from(["a", "b", "c", "名前", "plan"])
SCALARS = st.none() | st.booleans() | st.integers(-5, 5) | st.text("abあい", max_size=3)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=2) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=8,
)


def reference(target: Any, patch: Any) -> Any:
    """RFC 7396 section 2, as written."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = reference(merged.get(name), value)
    return merged


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.dictionaries(KEYS, DOCUMENTS, max_size=4),
    patch=st.dictionaries(KEYS, DOCUMENTS, max_size=4),
)
def test_merge_patch_matches_rfc_7396(database, target, patch) -> None:
    with database.sessions() as session:
        merged = session.scalar(select(merge_patch(literal(target, Json), literal(patch, Json))))

    assert merged == reference(target, patch)
