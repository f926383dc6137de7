"""Broadcast pages: the list with status and progress, one broadcast with its A/B variants.

The figures come from the same service functions the broadcasts API answers with.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from admin.api.deps import get_database
from admin.ui.auth import Marketing, check_csrf
from admin.ui.i18n import add_words
from admin.ui.journeys import not_found
from admin.ui.pages import render
from engine.broadcasts.service import (
    CANCELLABLE,
    BroadcastView,
    cancel_broadcast,
    list_broadcasts,
    show_broadcast,
)
from engine.clock import utcnow
from engine.errors import Conflict, NotFound
from engine.store.db import Database

router = APIRouter(prefix="/admin/broadcasts", include_in_schema=False)

add_words(
    {
        "ja": {
            "broadcasts": "一斉配信",
            "no_broadcasts": "一斉配信はまだありません。",
            "b_status": "状態",
            "b_audience": "配信対象",
            "b_send_at": "配信予定",
            "b_messages": "作成済み",
            "b_sent": "送信",
            "b_bounced": "バウンス",
            "b_suppressed": "配信停止",
            "b_skipped": "スキップ",
            "b_queued": "送信待ち",
            "b_failed": "失敗",
            "b_phase": "段階",
            "b_checkpoint": "チェックポイント(最後のコンタクトID)",
            "b_variants": "A/Bテストのバリアント",
            "b_variant": "バリアント",
            "b_winner": "勝者",
            "b_decided_at": "決定日時",
            "b_decide_at": "決定予定",
            "b_cancel": "この配信を中止する",
            "b_cancelled": "配信を中止しました。",
            "b_template": "テンプレート",
            "b_subject": "件名",
            "b_topic": "トピック",
        },
        "en": {
            "broadcasts": "Broadcasts",
            "no_broadcasts": "No broadcasts yet.",
            "b_status": "Status",
            "b_audience": "Audience",
            "b_send_at": "Scheduled",
            "b_messages": "Messages",
            "b_sent": "Sent",
            "b_bounced": "Bounced",
            "b_suppressed": "Suppressed",
            "b_skipped": "Skipped",
            "b_queued": "Queued",
            "b_failed": "Failed",
            "b_phase": "Phase",
            "b_checkpoint": "Checkpoint (last contact id)",
            "b_variants": "A/B variants",
            "b_variant": "Variant",
            "b_winner": "Winner",
            "b_decided_at": "Decided at",
            "b_decide_at": "Decision due",
            "b_cancel": "Cancel this broadcast",
            "b_cancelled": "The broadcast was cancelled.",
            "b_template": "Template",
            "b_subject": "Subject",
            "b_topic": "Topic",
        },
    }
)

#: Message statuses shown as columns, in order.
STATUSES = ("queued", "sent", "bounced", "suppressed", "skipped", "failed")


@router.get("")
def broadcasts(
    request: Request, user: Marketing, database: Annotated[Database, Depends(get_database)]
) -> HTMLResponse:
    """Every broadcast, newest first, with its messages counted by status."""
    with database.sessions() as session:
        views = [show_broadcast(session, b.id) for b in list_broadcasts(session)]
        rows = [v.to_dict() for v in views]
    return render(
        request,
        "broadcasts_list.html",
        user=user,
        title_key="broadcasts",
        rows=rows,
        statuses=STATUSES,
    )


@router.get("/{broadcast_id}")
def broadcast(
    request: Request,
    broadcast_id: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    cancelled: bool = False,
) -> HTMLResponse:
    """One broadcast: its settings, walk checkpoint, counts and A/B variants with the winner."""
    with database.sessions() as session:
        try:
            view: BroadcastView = show_broadcast(session, broadcast_id)
        except NotFound:
            return not_found(request, user)
        data = view.to_dict()
    return render(
        request,
        "broadcasts_detail.html",
        user=user,
        title_key="broadcasts",
        b=data,
        statuses=STATUSES,
        cancellable=data["status"] in CANCELLABLE,
        cancelled=cancelled,
    )


@router.post("/{broadcast_id}/cancel")
def cancel(
    request: Request,
    broadcast_id: str,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Cancel the broadcast (its queued messages are skipped), then show it again."""
    check_csrf(user, csrf)
    try:
        with database.unit_of_work() as session:
            cancel_broadcast(session, broadcast_id, now=utcnow())
    except NotFound:
        return not_found(request, user)
    except Conflict:
        return RedirectResponse(f"/admin/broadcasts/{broadcast_id}", status_code=303)
    return RedirectResponse(f"/admin/broadcasts/{broadcast_id}?cancelled=1", status_code=303)
