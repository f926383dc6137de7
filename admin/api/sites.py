"""Web sites that embed the tracking snippet: list and register (admins)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from admin.api.deps import Admin, SessionDep
from engine.clock import utcnow
from engine.store.models import Site
from engine.tracking.sites import create_site, list_sites

router = APIRouter(prefix="/api/sites", tags=["sites"])


class SiteIn(BaseModel):
    """A site to register."""

    name: str = Field(max_length=200, examples=["コーポレートサイト"])
    origins: list[str] = Field(min_length=1, max_length=50, examples=[["https://www.example.jp"]])
    respect_dnt: bool = False


class SiteOut(BaseModel):
    """A registered site; ``site_key`` goes in the snippet (it is public)."""

    site_key: str
    name: str
    allowed_origins: list[str]
    respect_dnt: bool
    active: bool
    created_at: datetime


def _out(site: Site) -> SiteOut:
    return SiteOut(
        site_key=site.site_key,
        name=site.name,
        allowed_origins=list(site.allowed_origins),
        respect_dnt=site.respect_dnt,
        active=site.active,
        created_at=site.created_at,
    )


@router.get("", response_model=list[SiteOut])
def get_sites(session: SessionDep, _: Admin) -> list[SiteOut]:
    """List the registered sites."""
    return [_out(s) for s in list_sites(session)]


@router.post("", response_model=SiteOut, status_code=201)
def post_site(body: SiteIn, session: SessionDep, _: Admin) -> SiteOut:
    """Register a site; a bad origin is a 422 naming it (``origins[1]``)."""
    site = create_site(
        session, name=body.name, origins=body.origins, respect_dnt=body.respect_dnt, now=utcnow()
    )
    out = _out(site)
    session.commit()
    return out
