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
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from engine.clock import utcnow
from engine.store.db import Database
from engine.store.models import Link, Message
from engine.tracking.buffer import HitBuffer, buffer_for
from engine.tracking.limits import shared_limits_url
from engine.tracking.sites import normalize_origin
from engine.tracking.tokens import read_click_token, read_open_token, visit_token
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
_NO_CACHE_HEADERS = [(k.lower().encode(), v.encode()) for k, v in _NO_CACHE.items()]
_PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL)).encode()),
    *_NO_CACHE_HEADERS,
]
_REDIRECT_HEADERS = [
    (b"content-length", b"0"),
    (b"referrer-policy", b"no-referrer-when-downgrade"),
    *_NO_CACHE_HEADERS,
]
_NOT_FOUND_PAGE = (
    "<!doctype html><meta charset=utf-8><title>リンクが無効です / Link not valid</title>"
    "<p>このリンクは無効です。メールに記載されたリンクをそのままお使いください。</p>"
    "<p>This link is not valid. Use the link exactly as it appears in the email.</p>"
).encode()
_NOT_FOUND_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", str(len(_NOT_FOUND_PAGE)).encode()),
    (b"content-security-policy", b"default-src 'none'"),
    *_NO_CACHE_HEADERS,
]
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


class TrackingApp:
    """The ASGI app of ``/t/``: the pixel and the redirect by hand, the rest through a router.

    The two hot paths skip the router, the request object and the response classes: they
    read the path and two headers from the ASGI scope and send prebuilt headers, which is
    most of what they cost under load. The snippet and ``/collect`` are ordinary routes.
    """

    def __init__(
        self,
        *,
        keys: Sequence[bytes],
        buffer: HitBuffer,
        links: LinkTargets,
        sites: SiteDirectory | None = None,
        ip_mode: IpMode = "truncate",
        enabled: bool = True,
        prefix: str = "",
        limits_url: str | None = None,
    ) -> None:
        self.keys = list(keys)
        self.prefix = prefix
        self.sites = sites
        self.buffer = buffer
        self.links = links
        self.ip_mode: IpMode = ip_mode
        self.enabled = enabled
        routes = [Route("/nurture.js", snippet, methods=["GET", "HEAD"])]
        if sites is not None:
            collect = collect_endpoint(
                keys=keys,
                buffer=buffer,
                sites=sites,
                ip_of=lambda r: kept_ip(r.client.host if r.client else None, ip_mode),
                enabled=enabled,
                limits_url=limits_url,
            )
            routes.append(Route("/collect", collect, methods=["POST", "OPTIONS"]))
        # No slash redirects: a tracking URL answers itself or 404s, never points elsewhere.
        self.router = Router(routes=routes, redirect_slashes=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        path = _relative_path(scope, self.prefix)
        if path.startswith("/o/") and path.endswith(".gif"):
            await self.pixel(scope, path[3:-4], send)
        elif path.startswith("/c/"):
            await self.click(scope, path[3:], send)
        else:
            await self.router(scope, receive, send)

    async def pixel(self, scope: Scope, token: str, send: Send) -> None:
        """Answer the GIF whatever the token; a genuine one leaves an open in the buffer."""
        uid = read_open_token(token, self.keys) if self.enabled else None
        if uid is not None:
            await self.push(scope, {"kind": "open", "uid": uid})
        await send({"type": "http.response.start", "status": 200, "headers": _PIXEL_HEADERS})
        await send({"type": "http.response.body", "body": PIXEL})

    async def click(self, scope: Scope, token: str, send: Send) -> None:
        """Redirect a genuine token to its stored target; anything else is a 404 page."""
        ref = read_click_token(token, self.keys)
        target = await self.links.target(ref.uid, ref.position) if ref is not None else None
        if ref is None or target is None:
            await send(
                {"type": "http.response.start", "status": 404, "headers": _NOT_FOUND_HEADERS}
            )
            await send({"type": "http.response.body", "body": _NOT_FOUND_PAGE})
            return
        location = None
        if self.enabled:
            await self.push(scope, {"kind": "click", "uid": ref.uid, "position": ref.position})
            if self.sites is not None and _origin(target) in await self.sites.origins():
                # A site with the snippet learns who arrived, and merges their visit.
                tagged = _with_query(target, "nurture_c", visit_token(ref.uid, self.keys))
                location = _location(tagged)
        headers = [(b"location", location or _stored_location(target)), *_REDIRECT_HEADERS]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def push(self, scope: Scope, hit: dict[str, Any]) -> None:
        """Buffer a hit with its id, time, address and user agent; a failure is only logged."""
        client = scope.get("client")
        hit["id"] = secrets.token_hex(16)
        hit["at"] = utcnow().isoformat()
        hit["ip"] = kept_ip(client[0] if client else None, self.ip_mode)
        hit["ua"] = _header(scope, b"user-agent")
        try:
            await self.buffer.push(hit)
        except Exception:  # the person still gets the image or the page: never a 5xx
            log.exception("tracking hit not buffered (%s)", hit["kind"])


def create_tracking_app(
    *,
    keys: Sequence[bytes],
    buffer: HitBuffer,
    links: LinkTargets,
    sites: SiteDirectory | None = None,
    ip_mode: IpMode = "truncate",
    enabled: bool = True,
    prefix: str = "",
    limits_url: str | None = None,
) -> TrackingApp:
    """Build the tracking app: mounted at ``/t`` by the main app, or on its own with
    ``prefix="/t"``, which skips a framework's middleware and routing altogether.

    ``limits_url`` (Redis) shares the collection endpoint's rate limits between processes.
    """
    return TrackingApp(
        keys=keys,
        buffer=buffer,
        links=links,
        sites=sites,
        ip_mode=ip_mode,
        enabled=enabled,
        prefix=prefix,
        limits_url=limits_url,
    )


def _relative_path(scope: Scope, prefix: str) -> str:
    """The path below the mount point (Starlette keeps the full path and sets root_path)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "") or prefix
    return path[len(root) :] if root and path.startswith(root) else path


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")[:500] or None
    return None


@lru_cache(maxsize=CACHED_LINKS)  # stored targets repeat: parse each once per process
def _origin(url: str) -> str | None:
    try:
        return normalize_origin(url)
    except ValueError:
        return None


def _with_query(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{name}={value}" if parts.query else f"{name}={value}"
    return urlunsplit(parts._replace(query=query))


def _location(target: str) -> bytes:
    # Stored targets are URLs we wrote; percent-encode anything a header cannot carry.
    return quote(target, safe=":/?#[]@!$&'()*+,;=%~").encode("ascii")


#: The Location of a stored target as it is (no visit token), encoded once per process.
_stored_location = lru_cache(maxsize=CACHED_LINKS)(_location)


def kept_ip(ip: str | None, mode: IpMode) -> str | None:
    """Return what is stored of ``ip``: all of it, its /24 (IPv4) or /48 (IPv6), or nothing."""
    if ip is None or mode == "drop":
        return None
    if mode == "full":
        return ip
    head, dot, _ = ip.rpartition(".")
    if dot and ":" not in ip and head.count(".") == 2:  # IPv4, the common case: no parsing
        return f"{head}.0"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def from_environment() -> TrackingApp:
    """The tracking endpoints alone, configured from ``NURTURE_*`` (``uvicorn --factory``).

    For installations that serve ``/t/`` from their own hosts, apart from the admin and
    API: ``uvicorn --factory tracking.app:from_environment --workers 4``.
    """
    from engine.settings import Settings

    settings = Settings()
    database = Database(settings.resolved_database_url)
    return create_tracking_app(
        keys=settings.signing_keys(),
        buffer=buffer_for(settings.resolved_redis_url, embedded=settings.embedded),
        links=LinkTargets(database),
        sites=SiteDirectory(database),
        ip_mode=settings.tracking_ip,
        enabled=settings.tracking_enabled,
        prefix="/t",
        limits_url=shared_limits_url(settings.resolved_redis_url, embedded=settings.embedded),
    )
