"""The sales pages: the handoff queue, a lead's brief, and accepting or rejecting it.

Who sees what is the handoff service's rule (``engine.handoffs.responses``): a sales user
sees and answers only the leads assigned to them, enforced in its queries; another rep's
handoff answers 404. Admins and marketers see the whole team's queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.api.deps import get_database
from admin.ui.auth import CurrentUser, SignedIn, check_csrf
from admin.ui.i18n import add_words
from admin.ui.journeys import not_found
from admin.ui.pages import render
from engine.clock import utcnow
from engine.contacts.fields import display_name
from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engine.handoffs import responses
from engine.handoffs.brief import lead_brief
from engine.store.db import Database
from engine.store.models import Contact, Handoff, User

router = APIRouter(prefix="/admin/sales", include_in_schema=False)
PAGE_SIZE = 50
Tab = Literal["mine", "team"]
Status = Literal["open", "all", "accepted", "rejected"]
_Row = TypeVar("_Row", Contact, User)

add_words(
    {
        "ja": {
            "sales": "営業キュー",
            "tab_mine": "自分の担当",
            "tab_team": "チーム全体",
            "filter_open": "未対応",
            "filter_all": "すべて",
            "filter_accepted": "受け入れ済み",
            "filter_rejected": "見送り",
            "lead": "リード",
            "assignee": "担当",
            "handed_at": "引き渡し日時",
            "sla_due": "対応期限",
            "overdue": "期限切れ",
            "no_handoffs": "該当するリードはありません。",
            "handoff_status_pending": "未割り当て待ち",
            "handoff_status_assigned": "割り当て済み",
            "handoff_status_unassigned": "担当者なし",
            "handoff_status_escalated": "エスカレーション",
            "handoff_status_accepted": "受け入れ済み",
            "handoff_status_rejected": "見送り",
            "brief": "リード概要",
            "score_reasons": "スコアの理由",
            "last_touches": "最近の接点",
            "pages_viewed": "閲覧したページ",
            "emails_engaged": "反応したメール",
            "open_timeline": "タイムラインを見る",
            "accept": "受け入れる",
            "reject": "見送る",
            "reject_reason": "見送る理由",
            "reason_required": "見送る理由を入力してください。",
            "already_answered": "このリードはすでに対応済みです。",
            "rejected_because": "見送りの理由",
            "assignment": "割り当ての経緯",
            "nothing": "(なし)",
            "older_handoffs": "さらに古いリード",
        },
        "en": {
            "sales": "Sales queue",
            "tab_mine": "Mine",
            "tab_team": "Team",
            "filter_open": "Open",
            "filter_all": "All",
            "filter_accepted": "Accepted",
            "filter_rejected": "Rejected",
            "lead": "Lead",
            "assignee": "Assignee",
            "handed_at": "Handed over",
            "sla_due": "Answer by",
            "overdue": "overdue",
            "no_handoffs": "No leads here.",
            "handoff_status_pending": "Pending",
            "handoff_status_assigned": "Assigned",
            "handoff_status_unassigned": "Unassigned",
            "handoff_status_escalated": "Escalated",
            "handoff_status_accepted": "Accepted",
            "handoff_status_rejected": "Rejected",
            "brief": "Lead brief",
            "score_reasons": "Why this score",
            "last_touches": "Last touches",
            "pages_viewed": "Pages viewed",
            "emails_engaged": "Emails engaged",
            "open_timeline": "Open the timeline",
            "accept": "Accept",
            "reject": "Reject",
            "reject_reason": "Reason for rejecting",
            "reason_required": "Say why you reject this lead.",
            "already_answered": "This lead has already been answered.",
            "rejected_because": "Rejected because",
            "assignment": "How it was assigned",
            "nothing": "(none)",
            "older_handoffs": "Older leads",
        },
    }
)


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A handoff in the queue with its lead's name and the assignee's."""

    id: int
    email: str
    name: str
    score: int
    grade: str | None
    status: str
    assignee: str | None
    created_at: datetime
    sla_due_at: datetime | None
    overdue: bool


def viewer(user: CurrentUser) -> responses.Viewer:
    """The handoff service's view of a signed-in user: sales see only their own."""
    return responses.Viewer(user.id, user.role in ("admin", "marketer"))


def queue(
    session: Session,
    user: CurrentUser,
    *,
    tab: Tab,
    status: Status,
    before: int | None,
    now: datetime,
) -> list[QueueRow]:
    """One page of handoffs newest first, with contacts and assignees in two more queries.

    A sales user's queue is narrowed to their own leads in SQL, whatever tab they ask for.
    """
    query = select(Handoff).order_by(Handoff.id.desc()).limit(PAGE_SIZE)
    if tab == "mine" or user.role == "sales":
        query = query.where(Handoff.assignee_id == user.id)
    if status == "open":
        query = query.where(Handoff.status.in_(responses.OPEN))
    elif status != "all":
        query = query.where(Handoff.status == status)
    if before is not None:
        query = query.where(Handoff.id < before)
    rows = list(session.scalars(query))
    contacts = _by_id(session, Contact, {h.contact_id for h in rows})
    users = _by_id(session, User, {h.assignee_id for h in rows if h.assignee_id})
    result = []
    for h in rows:
        c = contacts[h.contact_id]
        assignee = users.get(h.assignee_id) if h.assignee_id else None
        result.append(
            QueueRow(
                id=h.id,
                email=c.email,
                name=display_name(c.first_name, c.last_name, c.locale),
                score=c.score,
                grade=c.grade,
                status=h.status,
                assignee=_user_name(assignee, user.language) if assignee else None,
                created_at=h.created_at,
                sla_due_at=h.sla_due_at,
                overdue=h.status in responses.OPEN
                and h.sla_due_at is not None
                and h.sla_due_at < now,
            )
        )
    return result


def _by_id(session: Session, model: type[_Row], ids: set[int]) -> dict[int, _Row]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def _user_name(user: User, language: str) -> str:
    return display_name(user.given_name, user.family_name, language) or user.email


@router.get("")
def sales_queue(
    request: Request,
    user: SignedIn,
    database: Annotated[Database, Depends(get_database)],
    tab: Annotated[Tab, Query()] = "mine",
    status: Annotated[Status, Query()] = "open",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """The handoff queue: my leads, or (admins and marketers) the whole team's."""
    if user.role == "sales":
        tab = "mine"
    with database.sessions() as session:
        rows = queue(session, user, tab=tab, status=status, before=before, now=utcnow())
    return render(
        request,
        "sales_queue.html",
        user=user,
        title_key="sales",
        rows=rows,
        tab=tab,
        tabs=("mine", "team") if user.role != "sales" else ("mine",),
        shown=status,
        statuses=("open", "all", "accepted", "rejected"),
        older=rows[-1].id if len(rows) == PAGE_SIZE else None,
    )


@router.get("/{handoff_id}")
def lead(
    request: Request,
    handoff_id: int,
    user: SignedIn,
    database: Annotated[Database, Depends(get_database)],
    error: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """One lead's brief: score and reasons, grade, touches, pages, emails; accept or reject."""
    return _lead_page(request, handoff_id, user, database, error=error)


def _lead_page(
    request: Request,
    handoff_id: int,
    user: CurrentUser,
    database: Database,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    with database.sessions() as session:
        try:
            handoff = responses.get_handoff(session, handoff_id, viewer(user))
        except NotFound:
            return not_found(request, user)
        contact = session.get(Contact, handoff.contact_id)
        if contact is None:
            return not_found(request, user)
        assignee = session.get(User, handoff.assignee_id) if handoff.assignee_id else None
        brief = lead_brief(session, contact.id)
        rejection = (handoff.brief or {}).get("rejection")
        name = display_name(contact.first_name, contact.last_name, contact.locale)
        assignee_name = _user_name(assignee, user.language) if assignee else None
    return render(
        request,
        "sales_lead.html",
        user=user,
        title_key="brief",
        status=status,
        handoff=handoff,
        contact=contact,
        name=name,
        assignee=assignee_name,
        brief=brief,
        rejection=rejection if isinstance(rejection, dict) else None,
        open=handoff.status in responses.OPEN,
        error=error if error in ("reason_required", "already_answered") else None,
        parse_time=_parse_time,
    )


def _parse_time(text: str | None) -> datetime | None:
    """The brief stores ISO times as text; read them back for the reader's zone."""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.post("/{handoff_id}/accept")
def accept(
    request: Request,
    handoff_id: int,
    user: SignedIn,
    database: Annotated[Database, Depends(get_database)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Take the lead: the handoff is accepted and the contact becomes an SQL."""
    check_csrf(user, csrf)
    return _answer(request, handoff_id, user, database, accept=True, reason=None)


@router.post("/{handoff_id}/reject")
def reject(
    request: Request,
    handoff_id: int,
    user: SignedIn,
    database: Annotated[Database, Depends(get_database)],
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Decline the lead with a reason: it goes back to marketing as ``recycled``."""
    check_csrf(user, csrf)
    return _answer(request, handoff_id, user, database, accept=False, reason=reason.strip())


def _answer(
    request: Request,
    handoff_id: int,
    user: CurrentUser,
    database: Database,
    *,
    accept: bool,
    reason: str | None,
) -> Response:
    try:
        with database.unit_of_work() as session:
            responses.answer(
                session, handoff_id, viewer(user), accept=accept, now=utcnow(), reason=reason
            )
    except (NotFound, PermissionDenied):
        return not_found(request, user)
    except InvalidInput:
        return _lead_page(request, handoff_id, user, database, error="reason_required", status=422)
    except Conflict:
        return _lead_page(request, handoff_id, user, database, error="already_answered", status=409)
    return RedirectResponse(f"/admin/sales/{handoff_id}", status_code=303)
