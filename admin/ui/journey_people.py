"""The people of a journey: who is at a step, waiting, due, or gone and why, page by page.

Reached from the counts in the journey page's step table; each row links to the contact.
"""

from __future__ import annotations

from typing import Annotated, cast, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from admin.api.deps import get_database
from admin.ui.auth import Marketing
from admin.ui.i18n import add_words
from admin.ui.journeys import not_found
from admin.ui.pages import render
from engine.errors import InvalidInput
from engine.runtime.roster import RosterPage, RosterStatus, journey_roster
from engine.store.db import Database
from engine.store.models import Journey

router = APIRouter(prefix="/admin/journeys", include_in_schema=False)
#: People listed per page.
PAGE_SIZE = 100
STATUSES: tuple[str, ...] = get_args(RosterStatus)

add_words(
    {
        "ja": {
            "people": "参加者",
            "people_at": "ステップ",
            "people_status": "状態",
            "people_all_steps": "すべてのステップ",
            "people_show": "表示",
            "people_none": "該当する参加者はいません。",
            "people_contact": "コンタクト",
            "people_next": "次の動き",
            "people_entered": "開始",
            "people_status_live": "進行中",
            "people_status_active": "実行待ち",
            "people_status_waiting": "待機中",
            "people_status_exited": "終了",
            "people_status_all": "すべて",
            "people_bad_cursor": "ページの指定が正しくありません。最初から表示しています。",
            "people_first_page": "最初のページ",
            "people_visited": "このステップに入ったことのある人のみ",
            "people_clear": "条件を外す",
            "people_next_page": "次のページ",
        },
        "en": {
            "people": "People",
            "people_at": "Step",
            "people_status": "Status",
            "people_all_steps": "All steps",
            "people_show": "Show",
            "people_none": "Nobody matches.",
            "people_contact": "Contact",
            "people_next": "Next",
            "people_entered": "Entered",
            "people_status_live": "in the journey",
            "people_status_active": "due to run",
            "people_status_waiting": "waiting",
            "people_status_exited": "ended",
            "people_status_all": "everyone",
            "people_bad_cursor": "That page link is not valid; showing the first page.",
            "people_first_page": "First page",
            "people_visited": "Only those who entered the step",
            "people_clear": "clear",
            "people_next_page": "Next page",
        },
    }
)


@router.get("/{journey_id}/people")
def people(
    request: Request,
    journey_id: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    step: Annotated[str, Query(max_length=64)] = "",
    visited: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=16)] = "live",
    version: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """A page of the journey's enrollments at ``step`` (any step when empty) with ``status``,
    of one ``version`` when given (the canvas's links say which); with ``visited``, only
    those that ever entered that step."""
    chosen = status if status in STATUSES else "live"
    bad_cursor = False
    with database.sessions() as session:
        journey = session.get(Journey, journey_id)
        if journey is None:
            return not_found(request, user)

        def listing(after: str | None) -> RosterPage:
            return journey_roster(
                session,
                journey_id,
                step=step or None,
                visited=visited or None,
                status=cast(RosterStatus, chosen),
                version=version,
                limit=PAGE_SIZE,
                cursor=after,
            )

        try:
            page = listing(cursor)
        except InvalidInput:
            page, bad_cursor = listing(None), True
        name = journey.name
    query: dict[str, str | int] = {"step": step, "status": chosen}
    if visited:
        query["visited"] = visited
    if version is not None:
        query["version"] = version
    base = f"/admin/journeys/{journey_id}/people"
    return render(
        request,
        "journeys_people.html",
        user=user,
        title_key="people",
        journey_id=journey_id,
        journey_name=name,
        step=step,
        shown_status=chosen,
        visited=visited,
        without_visited=f"{base}?{urlencode({k: v for k, v in query.items() if k != 'visited'})}",
        version=version,
        statuses=STATUSES,
        page=page,
        bad_cursor=bad_cursor,
        first_page=f"{base}?{urlencode(query)}",
        next_page=f"{base}?{urlencode(query | {'cursor': page.next_cursor})}"
        if page.next_cursor
        else None,
        paged=bool(cursor) and not bad_cursor,
    )
