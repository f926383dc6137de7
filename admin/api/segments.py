"""Segments: list with member counts, read one with a sample, preview, save and delete.

Definitions are files (``journeys/segments/``) stored by ``nurture segments sync``, or YAML
saved through ``PUT /api/segments/{id}`` (the same checks, with findings at their line). A
preview shows "who is in it" before a save; a saved segment's members are evaluated by the
next reconcile, within a minute.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.api.deps import Reader, SessionDep, Writer
from admin.api.journeys import DiagnosticOut
from engine.clock import utcnow
from engine.errors import FieldProblem, InvalidInput
from engine.segments import count_matching, sample_matching
from engine.segments.definitions import (
    CONDITIONS,
    delete_segment,
    get_segment,
    parse_segment,
    segment_summaries,
    store_segment,
)
from engine.store.models import Contact

router = APIRouter(prefix="/api/segments", tags=["segments"])

MAX_SOURCE = 200_000
"""Characters of YAML in a preview: far above any real segment."""


class SegmentOut(BaseModel):
    """A stored segment; ``reconciled_at`` is its last full evaluation (null: pending)."""

    id: str
    name: str
    description: str | None
    members: int
    updated_at: datetime
    reconciled_at: datetime | None


class ContactBrief(BaseModel):
    """Enough of a contact to recognise it in a sample."""

    id: int
    email: str
    name: str


class SegmentDetail(SegmentOut):
    """A segment with its YAML and a sample of who matches now."""

    source: str
    matching_now: int
    sample: list[ContactBrief]


class PreviewIn(BaseModel):
    """A segment file's text as the editor holds it."""

    filename: str = Field("segment.yaml", min_length=1, max_length=500)
    source: str = Field(max_length=MAX_SOURCE)
    sample: int = Field(10, ge=0, le=100)


class PreviewOut(BaseModel):
    """Findings, or how many contacts match now and a sample of them."""

    ok: bool
    diagnostics: list[DiagnosticOut]
    matching_now: int | None
    sample: list[ContactBrief]


@router.get("", response_model=list[SegmentOut])
def list_segments(session: SessionDep, _: Reader) -> list[SegmentOut]:
    """Every stored segment with its member count."""
    return [SegmentOut.model_validate(s, from_attributes=True) for s in segment_summaries(session)]


@router.get("/{segment_id}", response_model=SegmentDetail)
def read_segment(
    segment_id: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    _: Reader,
    sample: Annotated[int, Query(ge=0, le=100)] = 10,
) -> SegmentDetail:
    """One segment, its YAML, and who matches it now (count and sample); 404 if unknown."""
    row = get_segment(session, segment_id)
    (summary,) = segment_summaries(session, only=row.id)
    condition = CONDITIONS.all(session)[row.id]
    now = utcnow()
    return SegmentDetail(
        **SegmentOut.model_validate(summary, from_attributes=True).model_dump(),
        source=row.source,
        matching_now=count_matching(session, condition, now),
        sample=_briefs(session, sample_matching(session, condition, now, sample)),
    )


@router.post("/preview", response_model=PreviewOut)
def preview(body: PreviewIn, session: SessionDep, _: Reader) -> PreviewOut:
    """Check a segment's YAML and count who it matches, without storing anything.

    Answers 200 whatever the findings: they are the answer, each with its line and column.
    """
    found, diagnostics = parse_segment(body.source, body.filename)
    if found is None:
        return PreviewOut(
            ok=False,
            diagnostics=[DiagnosticOut.model_validate(d.to_dict()) for d in diagnostics],
            matching_now=None,
            sample=[],
        )
    now = utcnow()
    condition = found.spec.condition
    return PreviewOut(
        ok=True,
        diagnostics=[],
        matching_now=count_matching(session, condition, now),
        sample=_briefs(session, sample_matching(session, condition, now, body.sample)),
    )


class SegmentIn(BaseModel):
    """A segment's YAML to store under the id in the path (its ``id:`` must match)."""

    source: str = Field(max_length=MAX_SOURCE)
    filename: str | None = Field(None, max_length=500, description="Name findings use.")


class SavedOut(BaseModel):
    """What a save did: ``created``, ``updated`` (members re-evaluated soon) or ``unchanged``."""

    id: str
    outcome: str


@router.put("/{segment_id}", response_model=SavedOut)
def save(
    segment_id: Annotated[str, Path(max_length=64)],
    body: SegmentIn,
    session: SessionDep,
    _: Writer,
) -> SavedOut:
    """Store a segment; findings are a 422 naming each at ``file:line:col``, nothing stored."""
    filename = body.filename or f"segments/{segment_id}.yaml"
    found, diagnostics = parse_segment(body.source, filename, expected_id=segment_id)
    if found is None:
        raise InvalidInput(
            "the segment is not valid",
            problems=[
                FieldProblem(f"{d.file}:{d.line}:{d.col} {d.path}", f"{d.code}: {d.message}")
                for d in diagnostics
            ],
        )
    outcome = store_segment(session, found, now=utcnow())
    session.commit()
    return SavedOut(id=segment_id, outcome=outcome)


@router.delete("/{segment_id}", status_code=204)
def remove(segment_id: Annotated[str, Path(max_length=64)], session: SessionDep, _: Writer) -> None:
    """Delete a segment and its memberships (journeys on it see no further entries)."""
    delete_segment(session, segment_id)
    session.commit()


def _briefs(session: Session, ids: list[int]) -> list[ContactBrief]:
    rows = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))}
    return [
        ContactBrief(
            id=i,
            email=rows[i].email,
            name=" ".join(p for p in (rows[i].last_name, rows[i].first_name) if p),
        )
        for i in ids
    ]
