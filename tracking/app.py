"""The public tracking endpoints: the open pixel and the click redirect, as plain Starlette.

They sit in front of every mail a contact opens, so they stay off FastAPI's dependency
machinery and out of the database wherever they can: the pixel checks its token, leaves
a hit in the buffer and answers with the 43-byte GIF (always, whatever the token); the
redirect checks its token, finds the stored target (cached: links never change) and
answers 302. A forged, altered or unknown click token gets a 404 page, records nothing and
redirects nowhere, so the endpoint cannot be used as an open redirect.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route, Router

from engine.clock import utcnow
from engine.store.db import Database
from engine.store.models import Link, Message
from engine.tracking.buffer import HitBuffer
from engine.tracking.tokens import read_click_token, read_open_token
from tracking.collect import SiteDirectory, collect_endpoint, snippet

log = logging.getLogger(__name__)

#: nginx's ``empty_gif``: a transparent 1×1 GIF.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x01\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
_REDIRECT_HEADERS = {**_NO_CACHE, "Referrer-Policy": "no-referrer-when-downgrade"}
_NOT_FOUND = HTMLResponse(
    "<!doctype html><meta charset=utf-8><title>リンクが無効です / Link not valid</title>"
    "<p>このリンクは無効です。メールに記載されたリンクをそのままお使いください。</p>"
    "<p>This link is not valid. Use the link exactly as it appears in the email.</p>",
    status_code=404,
    headers={**_NO_CACHE, "Content-Security-Policy": "default-src 'none'"},
)
#: Link targets kept in memory per process.
CACHED_LINKS = 20_000

IpMode = Literal["full", "truncate", "drop"]


class LinkTargets:
    """Stored link targets by (message uid, position), with an LRU cache in front."""

    def __init__(self, database: Database, size: int = CACHED_LINKS) -> None:
        self._database = database
        self._size = size
        self._cache: OrderedDict[tuple[str, int], str | None] = OrderedDict()

    async def target(self, uid: str, position: int) -> str | None:
        """Return the URL of link ``position`` of message ``uid``, or None."""
        key = (uid, position)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        url = await run_in_threadpool(self._load, uid, position)
        if url is not None:  # an unknown link may be stored a moment later: not cached
            self._cache[key] = url
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return url

    def _load(self, uid: str, position: int) -> str | None:
        with self._database.sessions() as session:
            url: str | None = session.scalar(
                select(Link.url)
                .join(Message, Message.id == Link.message_id)
                .where(Message.uid == uid, Link.position == position)
            )
            return url


def create_tracking_app(
    *,
    keys: Sequence[bytes],
    buffer: HitBuffer,
    links: LinkTargets,
    sites: SiteDirectory | None = None,
    ip_mode: IpMode = "truncate",
    enabled: bool = True,
) -> Router:
    """Build the tracking app (mounted at ``/t`` by the main app, or served on its own)."""

    async def pixel(request: Request) -> Response:
        uid = read_open_token(request.path_params["token"], keys) if enabled else None
        if uid is not None:
            await _push(buffer, request, ip_mode, {"kind": "open", "uid": uid})
        return Response(PIXEL, media_type="image/gif", headers=_NO_CACHE)

    async def click(request: Request) -> Response:
        ref = read_click_token(request.path_params["token"], keys)
        if ref is None:
            return _NOT_FOUND
        target = await links.target(ref.uid, ref.position)
        if target is None:
            return _NOT_FOUND
        if enabled:
            hit = {"kind": "click", "uid": ref.uid, "position": ref.position}
            await _push(buffer, request, ip_mode, hit)
        return RedirectResponse(target, status_code=302, headers=_REDIRECT_HEADERS)

    routes = [
        Route("/o/{token}.gif", pixel, methods=["GET", "HEAD"]),
        Route("/c/{token}", click, methods=["GET", "HEAD"]),
        Route("/nurture.js", snippet, methods=["GET", "HEAD"]),
    ]
    if sites is not None:
        collect = collect_endpoint(
            buffer=buffer,
            sites=sites,
            ip_of=lambda r: kept_ip(r.client.host if r.client else None, ip_mode),
            enabled=enabled,
        )
        routes.append(Route("/collect", collect, methods=["POST", "OPTIONS"]))
    # No slash redirects: a tracking URL answers itself or 404s, it never points elsewhere.
    return Router(routes=routes, redirect_slashes=False)


async def _push(buffer: HitBuffer, request: Request, ip_mode: IpMode, hit: dict[str, Any]) -> None:
    hit |= {
        "id": uuid.uuid4().hex,
        "at": utcnow().isoformat(),
        "ip": kept_ip(request.client.host if request.client else None, ip_mode),
        "ua": (request.headers.get("user-agent") or "")[:500] or None,
    }
    try:
        await buffer.push(hit)
    except Exception:  # the person still gets the image or the page: never a 5xx
        log.exception("tracking hit not buffered (%s)", hit["kind"])


def kept_ip(ip: str | None, mode: IpMode) -> str | None:
    """Return what is stored of ``ip``: all of it, its /24 (IPv4) or /48 (IPv6), or nothing."""
    if ip is None or mode == "drop":
        return None
    if mode == "full":
        return ip
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
