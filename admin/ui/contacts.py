"""Contact pages: search by email or name, and one contact's profile with the 360° timeline.

Marketers and admins see every contact; a sales user sees the contacts they own or were
handed, enforced in the queries (another contact answers 404, as if it did not exist).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from admin.api.deps import get_database
from admin.ui.auth import CurrentUser, Marketing, SignedIn, check_csrf
from admin.ui.i18n import add_words
from admin.ui.journeys import not_found
from admin.ui.pages import render
from engine.clock import utcnow
from engine.contacts import service
from engine.contacts.enrollments import contact_enrollments
from engine.contacts.timeline import timeline
from engine.contacts.why import Explanation, explain, load_facts
from engine.errors import InvalidInput, NotFound
from engine.runtime.removal import remove_contacts
from engine.store.db import Database
from engine.store.models import Contact, Enrollment, Handoff, Suppression

router = APIRouter(prefix="/admin/contacts", include_in_schema=False)
PAGE_SIZE = 50
TIMELINE_PAGE = 50

add_words(
    {
        "ja": {
            "contacts": "コンタクト",
            "search": "検索",
            "search_hint": "メールアドレスまたは名前",
            "name": "名前",
            "score": "スコア",
            "grade": "グレード",
            "stage": "ステージ",
            "owner": "担当者",
            "updated": "更新日時",
            "next_page": "次のページ",
            "first_page": "最初のページ",
            "no_contacts": "該当するコンタクトはありません。",
            "profile": "プロフィール",
            "tags": "タグ",
            "no_tags": "タグはありません。",
            "attributes": "属性",
            "timezone": "タイムゾーン",
            "locale": "言語",
            "last_seen": "最終アクセス",
            "consent": "配信の同意",
            "subscribed": "購読中",
            "unsubscribed_topic": "購読停止",
            "no_subscriptions": "購読の記録はありません。",
            "suppression": "配信停止リスト",
            "not_suppressed": "配信停止リストに載っていません。",
            "scope": "範囲",
            "until": "期限",
            "timeline": "タイムライン",
            "no_timeline": "まだ何も起きていません。",
            "older": "さらに古い履歴",
            "newest": "最新に戻る",
            "when": "日時",
            "what": "内容",
            "details": "詳細",
            "times_in": "時刻の表示",
            "kind_event": "イベント",
            "kind_message": "メール",
            "kind_tracking": "開封・クリック",
            "kind_score": "スコア",
            "kind_stage": "ステージ",
            "kind_handoff": "営業への引き渡し",
            "kind_consent": "同意",
            "kind_journey_entered": "ジャーニー開始",
            "kind_journey_exited": "ジャーニー終了",
            "enr_journeys": "ジャーニー",
            "enr_no_journeys": "どのジャーニーにも参加していません。",
            "enr_journey": "ジャーニー",
            "enr_status": "状態",
            "enr_step": "ステップ",
            "enr_next": "次の動き",
            "enr_entered": "開始",
            "enr_status_active": "実行待ち",
            "enr_status_waiting": "待機中",
            "enr_status_exited": "終了",
            "enr_wakes_at": "再開",
            "enr_or_event": "またはイベント",
            "enr_exit_reason": "終了理由",
            "enr_remove": "ジャーニーから外す",
            "enr_removed": "ジャーニーから外しました。",
            "enr_gone": "このジャーニーはすでに終了していました。",
            "bad_cursor": "ページの指定が正しくありません。最初から表示しています。",
            "why_title": "このメールが届かなかった理由",
            "why_template": "テンプレート名",
            "why_ask": "調べる",
            "why_evidence": "根拠",
        },
        "en": {
            "contacts": "Contacts",
            "search": "Search",
            "search_hint": "Email or name",
            "name": "Name",
            "score": "Score",
            "grade": "Grade",
            "stage": "Stage",
            "owner": "Owner",
            "updated": "Updated",
            "next_page": "Next page",
            "first_page": "First page",
            "no_contacts": "No contacts match.",
            "profile": "Profile",
            "tags": "Tags",
            "no_tags": "No tags.",
            "attributes": "Attributes",
            "timezone": "Time zone",
            "locale": "Language",
            "last_seen": "Last seen",
            "consent": "Consent",
            "subscribed": "Subscribed",
            "unsubscribed_topic": "Unsubscribed",
            "no_subscriptions": "No subscriptions recorded.",
            "suppression": "Suppression",
            "not_suppressed": "Not on the suppression list.",
            "scope": "Scope",
            "until": "Until",
            "timeline": "Timeline",
            "no_timeline": "Nothing has happened yet.",
            "older": "Older",
            "newest": "Back to newest",
            "when": "When",
            "what": "What",
            "details": "Details",
            "times_in": "Times in",
            "kind_event": "Event",
            "kind_message": "Email",
            "kind_tracking": "Open / click",
            "kind_score": "Score",
            "kind_stage": "Stage",
            "kind_handoff": "Sales handoff",
            "kind_consent": "Consent",
            "kind_journey_entered": "Journey entered",
            "kind_journey_exited": "Journey left",
            "enr_journeys": "Journeys",
            "enr_no_journeys": "Not in any journey.",
            "enr_journey": "Journey",
            "enr_status": "Status",
            "enr_step": "Step",
            "enr_next": "Next",
            "enr_entered": "Entered",
            "enr_status_active": "due to run",
            "enr_status_waiting": "waiting",
            "enr_status_exited": "ended",
            "enr_wakes_at": "wakes",
            "enr_or_event": "or on event",
            "enr_exit_reason": "reason",
            "enr_remove": "Remove from journey",
            "enr_removed": "Removed from the journey.",
            "enr_gone": "That enrollment had already ended.",
            "bad_cursor": "That page marker is not valid; showing the newest entries.",
            "why_title": "Why didn't this contact get an email?",
            "why_template": "Template name",
            "why_ask": "Explain",
            "why_evidence": "Evidence",
        },
    }
)


@dataclass(frozen=True, slots=True)
class SuppressionRow:
    """One active suppression of the contact's address."""

    scope: str
    reason: str
    source: str
    created_at: datetime
    expires_at: datetime | None


def visible(user: CurrentUser) -> int | None:
    """The owner a user's contact queries are narrowed to (None: every contact)."""
    return user.id if user.role == "sales" else None


def find_contact(session: Session, email: str, user: CurrentUser) -> Contact:
    """The contact by email as this user may see it; NotFound otherwise.

    A sales user sees a contact they own or one handed to them.
    """
    query = select(Contact).where(Contact.email == email.strip().lower())
    owner = visible(user)
    if owner is not None:
        handed = select(Handoff.id).where(
            Handoff.contact_id == Contact.id, Handoff.assignee_id == owner
        )
        query = query.where(or_(Contact.owner_id == owner, handed.exists()))
    contact = session.scalars(query).one_or_none()
    if contact is None:
        raise NotFound(f"no contact with email {email!r}")
    return contact


def suppressions(session: Session, email: str, *, now: datetime) -> list[SuppressionRow]:
    """The suppressions of ``email`` still in force."""
    rows = session.scalars(
        select(Suppression)
        .where(
            Suppression.email == email,
            or_(Suppression.expires_at.is_(None), Suppression.expires_at > now),
        )
        .order_by(Suppression.created_at.desc())
    )
    return [SuppressionRow(s.scope, s.reason, s.source, s.created_at, s.expires_at) for s in rows]


def details(entry_data: dict[str, Any]) -> list[tuple[str, str]]:
    """A timeline entry's details as label/value pairs for display (nested values as text)."""
    pairs: list[tuple[str, str]] = []
    for key, value in entry_data.items():
        if value is None or value == {} or value == []:
            continue
        if isinstance(value, dict):
            pairs.extend((f"{key}.{k}", _text(v)) for k, v in value.items())
        else:
            pairs.append((key, _text(value)))
    return pairs


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@router.get("")
def contacts(
    request: Request,
    user: SignedIn,
    database: Annotated[Database, Depends(get_database)],
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """Contacts matching ``q`` (email or name), one keyset page at a time."""
    with database.sessions() as session:
        try:
            rows, next_cursor = service.list_contacts(
                session,
                limit=PAGE_SIZE,
                cursor=cursor,
                search=q.strip() or None,
                owner_id=visible(user),
            )
        except InvalidInput:
            rows, next_cursor = service.list_contacts(
                session, limit=PAGE_SIZE, search=q.strip() or None, owner_id=visible(user)
            )
        items = service.to_out(session, rows)
    return render(
        request,
        "contacts_list.html",
        user=user,
        title_key="contacts",
        q=q,
        items=items,
        next_cursor=next_cursor,
        paged=bool(cursor),
    )


@router.get("/{email:path}")
def contact(
    request: Request,
    email: str,
    user: SignedIn,
    database: Annotated[Database, Depends(get_database)],
    before: Annotated[str | None, Query(max_length=300)] = None,
    template: Annotated[str, Query(max_length=200)] = "",
    notice: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """A contact's profile, journeys, consent and suppression state, and one page of the
    timeline.

    With ``template``, also why the contact did or did not get that email; ``notice`` says
    what the last form did (``removed``, ``gone``).
    """
    bad_cursor = False
    why: Explanation | None = None
    with database.sessions() as session:
        try:
            found = find_contact(session, email, user)
        except NotFound:
            return not_found(request, user)
        (profile,) = service.to_out(session, [found])
        try:
            page = timeline(session, found.id, limit=TIMELINE_PAGE, before=before)
        except InvalidInput:
            page, bad_cursor = timeline(session, found.id, limit=TIMELINE_PAGE), True
        blocked = suppressions(session, found.email, now=utcnow())
        journeys = contact_enrollments(session, found.id)
        if template.strip():
            facts = load_facts(
                session,
                found.id,
                found.email,
                template.strip(),
                journeys=request.app.state.journeys,
                now=utcnow(),
            )
            why = explain(facts)
    return render(
        request,
        "contacts_detail.html",
        user=user,
        title_key="contacts",
        contact=profile,
        page=page,
        details=details,
        suppressions=blocked,
        enrollments=journeys,
        bad_cursor=bad_cursor,
        why=why,
        why_template=template.strip(),
        paged=bool(before) and not bad_cursor,
        self_path=f"/admin/contacts/{quote(found.email, safe='@')}",
        notice=notice if notice in NOTICES else "",
        can_remove=user.role in ("admin", "marketer"),
    )


#: What the journey form may report back on the contact page.
NOTICES = frozenset({"removed", "gone"})


@router.post("/{email:path}/enrollments/{enrollment_id}/exit")
def remove_from_journey(
    request: Request,
    email: str,
    enrollment_id: int,
    user: Marketing,
    database: Annotated[Database, Depends(get_database)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """End one of the contact's live enrollments (reason ``removed``), then show the page."""
    check_csrf(user, csrf)
    with database.unit_of_work() as session:
        try:
            found = find_contact(session, email, user)
        except NotFound:
            return not_found(request, user)
        journey_id = session.scalar(
            select(Enrollment.journey_id).where(
                Enrollment.id == enrollment_id, Enrollment.contact_id == found.id
            )
        )
        if journey_id is None:
            return not_found(request, user)
        ended = remove_contacts(
            session, journey_id, [found.id], now=utcnow(), enrollment_id=enrollment_id
        )
    page = f"/admin/contacts/{quote(found.email, safe='@')}"
    return RedirectResponse(f"{page}?notice={'removed' if ended else 'gone'}", status_code=303)
