"""Broadcasts: create from YAML, list, read with counts, schedule and cancel.

The body of a create is the broadcast file's text, checked exactly as ``nurture broadcasts
create`` checks it; findings come back as a 422 naming ``file:line:col`` and the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import AwareDatetime, BaseModel, Field

from admin.api.deps import Reader, SessionDep, Writer
from engine.broadcasts.service import (
    cancel_broadcast,
    create_broadcast,
    list_broadcasts,
    send_broadcast,
    show_broadcast,
)
from engine.broadcasts.spec import BroadcastSpec, parse_broadcast
from engine.clock import utcnow
from engine.email.templates import TemplateError, TemplateStore
from engine.errors import FieldProblem, InvalidInput
from engine.settings import Settings

router = APIRouter(prefix="/api/broadcasts", tags=["broadcasts"])

BroadcastId = Annotated[str, Path(max_length=64)]


class BroadcastIn(BaseModel):
    """A broadcast file's text."""

    filename: str = Field("broadcast.yaml", min_length=1, max_length=500)
    source: str = Field(max_length=100_000)


class SendIn(BaseModel):
    """When to start; omitted, at once (the scheduler starts it within seconds)."""

    at: AwareDatetime | None = None


class BroadcastOut(BaseModel):
    """A broadcast, its walk, its message counts by status (and by variant) and A/B result."""

    id: str
    name: str
    status: str
    template: str
    subject: str | None
    topic: str | None
    audience: dict[str, str | None]
    send_at: datetime | None
    phase: str | None
    cursor: int
    ab: dict[str, Any] | None
    winner: str | None
    ab_result: dict[str, Any] | None
    decide_at: datetime | None
    sent_at: datetime | None
    finished_at: datetime | None
    messages: dict[str, int]
    variants: dict[str, dict[str, int]]


class BroadcastBrief(BaseModel):
    """A broadcast in a list."""

    id: str
    name: str
    status: str
    send_at: datetime | None
    winner: str | None


@router.get("", response_model=list[BroadcastBrief])
def list_all(session: SessionDep, _: Reader) -> list[BroadcastBrief]:
    """Every broadcast, newest first."""
    return [
        BroadcastBrief.model_validate(b, from_attributes=True) for b in list_broadcasts(session)
    ]


@router.post("", response_model=BroadcastOut, status_code=201)
def create(body: BroadcastIn, request: Request, session: SessionDep, _: Writer) -> BroadcastOut:
    """Store a broadcast as a draft (scheduled if it sets ``send_at``); 409 if the id is taken."""
    spec, diagnostics = parse_broadcast(body.source, body.filename)
    if spec is None:
        raise InvalidInput(
            "the broadcast file has errors",
            problems=[
                FieldProblem(f"{d.file}:{d.line}:{d.col} {d.path}", d.message) for d in diagnostics
            ],
        )
    settings: Settings = request.app.state.settings
    _check_templates(TemplateStore(settings.templates_dir), spec)
    create_broadcast(session, spec, source=body.source, now=utcnow())
    session.commit()
    return _out(session, spec.id)


@router.get("/{broadcast_id}", response_model=BroadcastOut)
def read(broadcast_id: BroadcastId, session: SessionDep, _: Reader) -> BroadcastOut:
    """One broadcast with its counts; 404 if unknown."""
    return _out(session, broadcast_id)


@router.post("/{broadcast_id}/send", response_model=BroadcastOut)
def send(
    broadcast_id: BroadcastId, session: SessionDep, _: Writer, body: SendIn | None = None
) -> BroadcastOut:
    """Schedule a draft for ``at`` (now if omitted); 409 unless it is a draft."""
    send_broadcast(session, broadcast_id, at=body.at if body else None, now=utcnow())
    session.commit()
    return _out(session, broadcast_id)


@router.post("/{broadcast_id}/cancel", response_model=BroadcastOut)
def cancel(broadcast_id: BroadcastId, session: SessionDep, _: Writer) -> BroadcastOut:
    """Cancel; messages not yet sent are skipped. 409 once finished or cancelled."""
    cancel_broadcast(session, broadcast_id, now=utcnow())
    session.commit()
    return _out(session, broadcast_id)


def _out(session: SessionDep, broadcast_id: str) -> BroadcastOut:
    return BroadcastOut.model_validate(show_broadcast(session, broadcast_id).to_dict())


def _check_templates(store: TemplateStore, spec: BroadcastSpec) -> None:
    variants = spec.ab.variants if spec.ab else []
    names = {spec.template} | {v.template for v in variants if v.template}
    problems = []
    for name in sorted(names):
        try:
            store.get(name)
        except TemplateError as error:
            problems.append(FieldProblem("template", f"{name}: {error.message}"))
    if problems:
        raise InvalidInput("a template of the broadcast cannot be used", problems=problems)
