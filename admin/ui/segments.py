"""Segment pages: the list, one segment's definition, its live count and a sample of members.

The editor checks a segment's YAML and counts who it would match before anything is stored
(findings at their line, as ``nurture segments check`` prints them); Save stores it with
the same checks as ``PUT /api/segments/{id}``, and the next reconcile (within a minute)
evaluates its members.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.api.deps import get_database
from admin.ui.auth import Marketing, check_csrf
from admin.ui.i18n import add_words
from admin.ui.journeys import not_found
from admin.ui.pages import render
from engine.clock import utcnow
from engine.contacts.fields import display_name
from engine.errors import NotFound
from engine.segments import count_matching, sample_matching
from engine.segments.definitions import (
    CONDITIONS,
    get_segment,
    parse_segment,
    segment_summaries,
    store_segment,
)
from engine.store.db import Database
from engine.store.models import Contact

router = APIRouter(prefix="/admin/segments", include_in_schema=False)

#: Contacts shown as a sample of who matches.
SAMPLE = 20
#: Characters of YAML the editor accepts: far above any real segment.
MAX_SOURCE = 200_000

NEW_SEGMENT = """\
id: new-segment
name: 新しいセグメント
condition:
  all:
    - {score: {gte: 50}}
"""

add_words(
    {
        "ja": {
            "no_segments": "セグメントはまだありません。下のエディタで作成するか、nurture segments sync で登録してください。",
            "s_id": "ID",
            "s_name": "名前",
            "s_members": "メンバー数",
            "s_evaluated": "最終評価",
            "s_pending": "評価待ち",
            "s_matching_now": "現在の該当数",
            "s_sample": "該当するコンタクト(先頭 {n} 件)",
            "s_definition": "定義 (YAML)",
            "s_editor": "エディタ",
            "s_new": "新しいセグメント",
            "s_preview": "プレビュー(該当数とサンプル)",
            "s_save": "保存",
            "s_saved": "保存しました。メンバーは 1 分以内に再評価されます。",
            "s_unchanged": "変更はありません。",
            "s_findings": "指摘事項",
            "s_nothing_stored": "何も保存されていません。指摘を修正してください。",
            "s_no_match": "該当するコンタクトはいません。",
        },
        "en": {
            "no_segments": "No segments yet. Create one with the editor below, or store files with nurture segments sync.",
            "s_id": "ID",
            "s_name": "Name",
            "s_members": "Members",
            "s_evaluated": "Evaluated",
            "s_pending": "pending",
            "s_matching_now": "Matching now",
            "s_sample": "Matching contacts (first {n})",
            "s_definition": "Definition (YAML)",
            "s_editor": "Editor",
            "s_new": "New segment",
            "s_preview": "Preview (count and sample)",
            "s_save": "Save",
            "s_saved": "Saved. Members are evaluated again within a minute.",
            "s_unchanged": "Nothing changed.",
            "s_findings": "Findings",
            "s_nothing_stored": "Nothing was stored: fix the findings.",
            "s_no_match": "No contact matches.",
        },
    }
)


@router.get("")
def segments(
    request: Request, user: Marketing, database: Annotated[Database, Depends(get_database)]
) -> HTMLResponse:
    """Every stored segment with its member count, and an editor for a new one."""
    with database.sessions() as session:
        rows = segment_summaries(session)
    return render(
        request,
        "segments_list.html",
        user=user,
        title_key="segments",
        rows=rows,
        editor=None,
        source=NEW_SEGMENT,
    )


@router.post("")
def edit_new(
    request: Request,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    source: Annotated[str, Form(max_length=MAX_SOURCE)] = "",
    action: Annotated[str, Form()] = "preview",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Preview or save a new segment written in the list page's editor."""
    check_csrf(user, csrf)
    with database.sessions() as session:
        editor = _edit(session, source, action, expected_id=None, filename="segment.yaml")
        rows = segment_summaries(session)
    if editor.get("saved") in {"created", "updated"}:
        return RedirectResponse(f"/admin/segments/{editor['id']}?saved=1", status_code=303)
    return render(
        request,
        "segments_list.html",
        user=user,
        title_key="segments",
        rows=rows,
        editor=editor,
        source=source,
    )


@router.get("/{segment_id}")
def segment(
    request: Request,
    segment_id: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    saved: bool = False,
) -> HTMLResponse:
    """One segment: its definition, stored members, who matches now, and the editor."""
    with database.sessions() as session:
        try:
            view = _segment_view(session, segment_id)
        except NotFound:
            return not_found(request, user)
    return render(
        request,
        "segments_detail.html",
        user=user,
        title_key="segments",
        s=view,
        editor=None,
        source=view["source"],
        saved=saved,
        sample_size=SAMPLE,
    )


@router.post("/{segment_id}")
def edit(
    request: Request,
    segment_id: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    source: Annotated[str, Form(max_length=MAX_SOURCE)] = "",
    action: Annotated[str, Form()] = "preview",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Preview or save an edited definition; findings name their line, nothing is stored."""
    check_csrf(user, csrf)
    with database.sessions() as session:
        try:
            view = _segment_view(session, segment_id)
        except NotFound:
            return not_found(request, user)
        editor = _edit(
            session,
            source,
            action,
            expected_id=segment_id,
            filename=f"segments/{segment_id}.yaml",
        )
    if editor.get("saved") in {"created", "updated"}:
        return RedirectResponse(f"/admin/segments/{segment_id}?saved=1", status_code=303)
    return render(
        request,
        "segments_detail.html",
        user=user,
        title_key="segments",
        s=view,
        editor=editor,
        source=source,
        saved=False,
        sample_size=SAMPLE,
    )


def _segment_view(session: Session, segment_id: str) -> dict[str, Any]:
    """The stored segment with its member count and who matches it now; NotFound if unknown."""
    row = get_segment(session, segment_id)
    (summary,) = segment_summaries(session, only=row.id)
    condition = CONDITIONS.all(session)[row.id]
    now = utcnow()
    return {
        "summary": summary,
        "source": row.source,
        "matching_now": count_matching(session, condition, now),
        "sample": _people(session, sample_matching(session, condition, now, SAMPLE)),
    }


def _edit(
    session: Session, source: str, action: str, *, expected_id: str | None, filename: str
) -> dict[str, Any]:
    """Check ``source``; count and sample who it matches; store it when ``action`` is save."""
    found, diagnostics = parse_segment(source, filename, expected_id=expected_id)
    lines = source.splitlines()
    marked = {d.line: d.severity for d in diagnostics}
    result: dict[str, Any] = {
        "ok": found is not None,
        "diagnostics": diagnostics,
        "lines": lines,
        "marked": marked,
        "matching_now": None,
        "sample": [],
        "saved": None,
        "id": found.spec.id if found else None,
    }
    if found is None:
        return result
    now = utcnow()
    condition = found.spec.condition
    result["matching_now"] = count_matching(session, condition, now)
    result["sample"] = _people(session, sample_matching(session, condition, now, SAMPLE))
    if action == "save":
        result["saved"] = store_segment(session, found, now=now)
        session.commit()
    return result


def _people(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    """The sampled contacts in order, named as their language writes names."""
    rows = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))}
    return [
        {
            "email": rows[i].email,
            "name": display_name(rows[i].first_name, rows[i].last_name, rows[i].locale),
            "score": rows[i].score,
            "stage": rows[i].lifecycle_stage,
        }
        for i in ids
    ]
