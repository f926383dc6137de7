"""Contacts: upsert by email, read, patch, erase, list, journeys, timeline, consent and tags."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, TypeAdapter

from admin.api.deps import Admin, Reader, Relay, SessionDep, Writer
from admin.api.validation import validate_body
from engine.auth.apikeys import Principal
from engine.clock import utcnow
from engine.contacts import service
from engine.contacts.enrollments import ContactEnrollment, contact_enrollments
from engine.contacts.schemas import (
    ConsentIn,
    ContactIn,
    ContactOut,
    ContactPage,
    ContactPatch,
    Email,
    LifecycleStage,
    Tag,
)
from engine.contacts.timeline import KINDS, TimelinePage, timeline
from engine.contacts.why import explain, load_facts
from engine.errors import FieldProblem, InvalidInput

router = APIRouter(prefix="/api/contacts", tags=["contacts"])

_EMAIL = TypeAdapter(Email)
EmailPath = Annotated[str, Path(description="The contact's email (any case).")]


def _email(raw: str) -> str:
    return validate_body(_EMAIL, raw, ["path", "email"])


def _owner_scope(principal: Principal) -> int | None:
    """A sales user's personal key sees only that user's leads."""
    if principal.user_id is not None and principal.scopes == {"sales"}:
        return principal.user_id
    return None


@router.post("", response_model=ContactOut, responses={201: {"model": ContactOut}})
def upsert_contact(
    body: ContactIn, session: SessionDep, _: Writer, response: Response, _relay: Relay
) -> ContactOut:
    """Create the contact, or update the one with this email (201 when created, else 200)."""
    now = utcnow()
    owners = service.owner_ids(session, [body.owner])
    row = service.ContactRow(
        email=body.email,
        first_name=body.first_name,
        last_name=body.last_name,
        timezone=body.timezone,
        locale=body.locale,
        lifecycle_stage=body.lifecycle_stage,
        owner_id=owners.get(body.owner) if body.owner else None,
        attributes=body.attributes or {},
    )
    result = service.upsert_contacts(session, [row], now=now, reason="set through the API")
    contact_id = result.ids[body.email]
    service.add_tags(session, [(contact_id, t) for t in body.tags or []], now=now)
    service.record_consent(session, [(contact_id, c) for c in body.consent or []], now=now)
    session.commit()
    response.status_code = 201 if body.email in result.created else 200
    return service.to_out(session, [service.get_contact(session, body.email)])[0]


@router.get("", response_model=ContactPage)
def list_contacts(
    session: SessionDep,
    principal: Reader,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of email or name")] = None,
    lifecycle_stage: LifecycleStage | None = None,
    tag: Tag | None = None,
    updated_since: datetime | None = None,
) -> ContactPage:
    """List contacts in creation order, one keyset page at a time.

    Filter on attributes with ``attr.<path>=value`` query parameters (``attr.company=Acme``).
    """
    attributes = {
        k.removeprefix("attr."): v for k, v in request.query_params.items() if k.startswith("attr.")
    }
    contacts, next_cursor = service.list_contacts(
        session,
        limit=limit,
        cursor=cursor,
        search=q,
        lifecycle_stage=lifecycle_stage,
        tag=tag,
        owner_id=_owner_scope(principal),
        updated_since=updated_since,
        attributes=attributes,
    )
    return service.page_out(session, contacts, next_cursor)


@router.get("/{email}", response_model=ContactOut)
def get_contact(email: EmailPath, session: SessionDep, principal: Reader) -> ContactOut:
    """Return the contact with its score, grade, lifecycle stage, tags and subscriptions."""
    contact = service.get_contact(session, _email(email), owner_id=_owner_scope(principal))
    return service.to_out(session, [contact])[0]


@router.patch("/{email}", response_model=ContactOut)
def patch_contact(
    email: EmailPath, body: ContactPatch, session: SessionDep, _: Writer, _relay: Relay
) -> ContactOut:
    """Change some fields: null clears one; ``attributes`` merges (null removes a key)."""
    contact = service.get_contact(session, _email(email))
    service.patch_contact(session, contact, body, now=utcnow())
    session.commit()
    return service.to_out(session, [contact])[0]


@router.delete("/{email}", status_code=204)
def erase_contact(email: EmailPath, session: SessionDep, principal: Admin) -> Response:
    """Erase the contact's personal data for good (right to erasure); stats stay anonymous."""
    contact = service.get_contact(session, _email(email))
    service.erase_contact(session, contact, now=utcnow(), requested_by=f"api key {principal.name}")
    session.commit()
    return Response(status_code=204)


@router.get("/{email}/enrollments", response_model=list[ContactEnrollment])
def get_enrollments(
    email: EmailPath, session: SessionDep, principal: Reader
) -> list[ContactEnrollment]:
    """The contact's journeys: live enrollments first (step, wake time, awaited event), then
    the ended ones with their exit reason, newest first."""
    contact = service.get_contact(session, _email(email), owner_id=_owner_scope(principal))
    return contact_enrollments(session, contact.id)


@router.get("/{email}/timeline", response_model=TimelinePage)
def get_timeline(
    email: EmailPath,
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    kind: Annotated[
        list[str] | None, Query(description=f"Only these kinds: {', '.join(KINDS)}")
    ] = None,
) -> TimelinePage:
    """Everything that happened to the contact, newest first: the 360° view."""
    unknown = sorted(set(kind or ()) - set(KINDS))
    if unknown:
        raise InvalidInput(
            "unknown timeline kind",
            problems=[
                FieldProblem("query.kind", f"{k!r} is not one of {', '.join(KINDS)}")
                for k in unknown
            ],
        )
    contact = service.get_contact(session, _email(email), owner_id=_owner_scope(principal))
    return timeline(
        session, contact.id, limit=limit, before=before, kinds=set(kind) if kind else None
    )


class WhyOut(BaseModel):
    """The first reason the contact did or did not get a template's mail, and the evidence.

    ``code``: sent, skipped, suppressed, failed, bounced, queued, unsubscribed, no_journey,
    never_enrolled, waiting or exited (see docs/admin-pages.md).
    """

    template: str
    code: str
    reason: str
    evidence: list[str]


@router.get("/{email}/why", response_model=WhyOut)
def get_why(
    email: EmailPath,
    template: Annotated[str, Query(min_length=1, max_length=100, description="Template name.")],
    session: SessionDep,
    principal: Reader,
    request: Request,
) -> WhyOut:
    """Why the contact did or did not get email ``template``: the same answer as the page."""
    contact = service.get_contact(session, _email(email), owner_id=_owner_scope(principal))
    facts = load_facts(
        session,
        contact.id,
        contact.email,
        template,
        journeys=request.app.state.journeys,
        now=utcnow(),
    )
    found = explain(facts)
    return WhyOut(
        template=template, code=found.code, reason=found.reason, evidence=list(found.evidence)
    )


@router.post("/{email}/consent", response_model=ContactOut)
def post_consent(
    email: EmailPath, body: ConsentIn, session: SessionDep, _: Writer, _relay: Relay
) -> ContactOut:
    """Record consent given or withdrawn, with its source and wording."""
    contact = service.get_contact(session, _email(email))
    service.record_consent(session, [(contact.id, body)], now=utcnow())
    session.commit()
    return service.to_out(session, [contact])[0]


class TagChange(BaseModel):
    """Tags to add and to remove."""

    model_config = ConfigDict(extra="forbid")

    add: list[Tag] = []
    remove: list[Tag] = []


@router.post("/{email}/tags", response_model=ContactOut)
def post_tags(
    email: EmailPath, body: TagChange, session: SessionDep, _: Writer, _relay: Relay
) -> ContactOut:
    """Add and remove tags."""
    contact = service.get_contact(session, _email(email))
    now = utcnow()
    service.add_tags(session, [(contact.id, t) for t in body.add], now=now)
    service.remove_tags(session, contact.id, body.remove, now=now)
    session.commit()
    return service.to_out(session, [contact])[0]
