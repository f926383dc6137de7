"""What web sites send: the snippet file and the collection endpoint, as plain Starlette.

``POST /t/collect`` takes a small batch of hits from the snippet. The site key must be
registered and the request's ``Origin`` one of the site's allowed origins (CORS is granted
to exactly those); a site that honours Do-Not-Track or Global Privacy Control drops the
hits of a browser that sends it. Requests are rate-limited per address and site, identify
more tightly. Accepted hits go to the buffer and the answer is 204 at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.clock import utcnow
from engine.store.db import Database
from engine.tracking.buffer import HitBuffer
from engine.tracking.limits import limiter_for
from engine.tracking.sites import active_sites
from engine.tracking.tokens import read_visit_token

SNIPPET = (Path(__file__).parent / "static" / "nurture.js").read_bytes()
SNIPPET_ETAG = '"' + hashlib.sha256(SNIPPET).hexdigest()[:16] + '"'
#: The largest request body accepted (bytes) and the most hits per request.
MAX_BODY = 32 * 1024
MAX_HITS = 20
#: How long the list of sites is cached per process.
SITES_TTL = timedelta(seconds=30)
_SENSITIVE = re.compile(
    r"pass|pwd|card|cc-|cvc|cvv|iban|ssn|secret|token|mynumber|マイナンバー", re.I
)

Short = Annotated[str, StringConstraints(max_length=500)]
Url = Annotated[str, StringConstraints(max_length=2000)]


class HitIn(BaseModel):
    """One hit from the snippet."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["page", "event", "identify", "form"]
    url: Url | None = None
    title: Short | None = None
    referrer: Url | None = None
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")] | None = None
    properties: dict[str, Any] | None = None
    email: EmailStr | None = None
    token: Annotated[str, StringConstraints(max_length=80)] | None = None
    traits: dict[str, Any] | None = None
    form: Annotated[str, StringConstraints(max_length=200)] | None = None
    fields: dict[Annotated[str, StringConstraints(max_length=100)], Short] | None = None


class CollectIn(BaseModel):
    """A request from the snippet: the site, the browser's anonymous id and its hits."""

    site_key: Annotated[str, StringConstraints(max_length=64)]
    anonymous_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    hits: Annotated[list[HitIn], Field(min_length=1, max_length=MAX_HITS)]


class SiteDirectory:
    """Active sites by key, re-read from the database at most every ``SITES_TTL``.

    An unknown key re-reads sooner (a site registered a moment ago), at most every
    ``RECHECK`` seconds, so a stream of bogus keys cannot turn into a stream of queries.
    """

    RECHECK = 2.0

    def __init__(self, database: Database) -> None:
        self._database = database
        self._sites: dict[str, tuple[frozenset[str], bool]] = {}
        self._origins: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self._reading: asyncio.Lock | None = None

    async def get(self, site_key: str) -> tuple[frozenset[str], bool] | None:
        """Return the site's allowed origins and whether it honours Do-Not-Track."""
        age = time.monotonic() - self._read_at
        if age > SITES_TTL.total_seconds() or (site_key not in self._sites and age > self.RECHECK):
            await self._refresh()
        return self._sites.get(site_key)

    async def origins(self) -> frozenset[str]:
        """Every origin some active site allows."""
        if time.monotonic() - self._read_at > SITES_TTL.total_seconds():
            await self._refresh()
        return self._origins

    async def _refresh(self) -> None:
        if self._reading is None:
            self._reading = asyncio.Lock()
        async with self._reading:  # one query, however many requests are waiting for it
            if time.monotonic() - self._read_at <= self.RECHECK:
                return
            self._sites = await run_in_threadpool(self._load)
            self._origins = frozenset(o for origins, _ in self._sites.values() for o in origins)
            self._read_at = time.monotonic()

    def _load(self) -> dict[str, tuple[frozenset[str], bool]]:
        with self._database.sessions() as session:
            return active_sites(session)


def collect_endpoint(
    *,
    keys: Sequence[bytes],
    buffer: HitBuffer,
    sites: SiteDirectory,
    ip_of: Callable[[Request], str | None],
    enabled: bool,
    requests_per_minute: int = 120,
    identifies_per_minute: int = 10,
    limits_url: str | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """Build the ``/collect`` endpoint (POST and its CORS preflight).

    With ``limits_url`` (a Redis URL) the limits are shared by every process serving it.
    """
    requests = limiter_for(limits_url, "collect", requests_per_minute)
    identifies = limiter_for(limits_url, "identify", identifies_per_minute)

    async def collect(request: Request) -> Response:
        origin = request.headers.get("origin")
        if request.method == "OPTIONS":
            return await _preflight(request, sites, origin)
        raw = await _body(request)
        if raw is None:
            return _problem(413, "body", f"at most {MAX_BODY} bytes", origin)
        try:
            payload = CollectIn.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as error:
            return _invalid(error, origin)
        site = await sites.get(payload.site_key)
        if site is None:
            return _problem(403, "site_key", "no active site has this key", None)
        origins, respect_dnt = site
        if origin not in origins:
            return _problem(
                403, "Origin", f"{origin or 'no origin'} is not allowed for this site", None
            )
        cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        address = ip_of(request)
        key = f"{address}|{payload.site_key}"
        wants_identify = sum(1 for h in payload.hits if h.email or h.token)
        if not await requests.allow(key) or (
            wants_identify and not await identifies.allow(key, wants_identify)
        ):
            return Response(status_code=429, headers=cors | {"Retry-After": "60"})
        dnt = request.headers.get("dnt") == "1" or request.headers.get("sec-gpc") == "1"
        if not enabled or (respect_dnt and dnt):
            return Response(status_code=204, headers=cors)
        at = utcnow()
        user_agent = (request.headers.get("user-agent") or "")[:500] or None
        for n, hit in enumerate(payload.hits):
            record = hit.model_dump(exclude_none=True)
            if hit.token is not None:
                # Arrived from a tracked click: the token names the message, hence the contact.
                uid = read_visit_token(hit.token, keys)
                record.pop("token")
                if uid is None:
                    continue
                record["uid"] = uid
            if hit.fields:
                record["fields"] = {k: v for k, v in hit.fields.items() if not _SENSITIVE.search(k)}
            record |= {
                "id": uuid.uuid4().hex,
                # Server time (a browser's clock is anyone's guess), kept in the batch's order.
                "at": (at + timedelta(microseconds=n)).isoformat(),
                "site": payload.site_key,
                "anonymous_id": payload.anonymous_id,
                "ip": address,
                "ua": user_agent,
            }
            await buffer.push(record)
        return Response(status_code=204, headers=cors)

    return collect


async def snippet(request: Request) -> Response:
    """Serve the snippet, cacheable, revalidated by its ETag."""
    headers = {
        "ETag": SNIPPET_ETAG,
        "Cache-Control": "public, max-age=3600",
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == SNIPPET_ETAG:
        return Response(status_code=304, headers=headers)
    return Response(SNIPPET, media_type="application/javascript; charset=utf-8", headers=headers)


async def _preflight(request: Request, sites: SiteDirectory, origin: str | None) -> Response:
    # The snippet's requests are "simple"; a preflight comes from custom callers only. The
    # site is not named in a preflight, so any registered site's origin is granted it.
    allowed = origin is not None and origin in await sites.origins()
    if not allowed:
        return Response(status_code=403)
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin or "",
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "content-type",
            "Access-Control-Max-Age": "86400",
            "Vary": "Origin",
        },
    )


async def _body(request: Request) -> bytes | None:
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _invalid(error: ValueError | ValidationError, origin: str | None) -> Response:
    if isinstance(error, ValidationError):
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in error.errors()
        ]
    else:
        problems = [{"field": "body", "message": f"not JSON: {error}"}]
    return JSONResponse(
        {"error": "invalid tracking request", "problems": problems},
        status_code=400,
        headers=_cors(origin),
    )


def _problem(status: int, field: str, message: str, origin: str | None) -> Response:
    return JSONResponse(
        {"error": message, "problems": [{"field": field, "message": message}]},
        status_code=status,
        headers=_cors(origin),
    )


def _cors(origin: str | None) -> dict[str, str]:
    # Errors name no origin as trusted: the page cannot read them, the server log can.
    return {"Vary": "Origin"} if origin else {}
