"""Opaque, signed tracking tokens: which message (and which of its links) a hit is about.

A token carries the message's random ``uid`` and a link's position in that message, never
an address or a sequential id, and an HMAC-SHA256 (truncated to 128 bits) under the
installation's signing keys with a context per kind, so an open token cannot be replayed
as a click. The first key signs and every key verifies, so a key can be rotated without
breaking mail already delivered. Checking is constant time and allocation-light: the
pixel and the redirect call it on every request.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

_OPEN = b"nurture/open/v1:"
_VISIT = b"nurture/visit/v1:"
_CLICK = b"nurture/click/v1:"
_UID = r"[A-Za-z0-9_-]{8,32}"
_MAC = r"[A-Za-z0-9_-]{22}"
_OPEN_TOKEN = re.compile(rf"^({_UID})\.({_MAC})$")
_CLICK_TOKEN = re.compile(rf"^({_UID})\.([0-9]{{1,4}})\.({_MAC})$")


@dataclass(frozen=True, slots=True)
class LinkRef:
    """A link of a sent message: the message's ``uid`` and the link's position in it."""

    uid: str
    position: int


def open_token(uid: str, keys: Sequence[bytes]) -> str:
    """Return the open-pixel token of the message ``uid``, signed with the first key."""
    return f"{uid}.{_mac(keys[0], _OPEN, uid)}"


def click_token(uid: str, position: int, keys: Sequence[bytes]) -> str:
    """Return the click token of link ``position`` of the message ``uid``."""
    payload = f"{uid}.{position}"
    return f"{payload}.{_mac(keys[0], _CLICK, payload)}"


def visit_token(uid: str, keys: Sequence[bytes]) -> str:
    """Return the token a tracked click adds to a registered site's URL (``nurture_c``).

    It names the message, so the site's snippet can tell us who arrived; it is signed under
    its own context, so it cannot be replayed as an open or a click.
    """
    return f"{uid}.{_mac(keys[0], _VISIT, uid)}"


def read_visit_token(token: str, keys: Sequence[bytes]) -> str | None:
    """Return the message ``uid`` of a genuine visit token, else None."""
    match = _OPEN_TOKEN.match(token)
    if match is None:
        return None
    uid, mac = match.groups()
    return uid if _verified(keys, _VISIT, uid, mac) else None


def read_open_token(token: str, keys: Sequence[bytes]) -> str | None:
    """Return the message ``uid`` of a genuine open token, else None."""
    match = _OPEN_TOKEN.match(token)
    if match is None:
        return None
    uid, mac = match.groups()
    return uid if _verified(keys, _OPEN, uid, mac) else None


def read_click_token(token: str, keys: Sequence[bytes]) -> LinkRef | None:
    """Return the link a genuine click token names, else None."""
    match = _CLICK_TOKEN.match(token)
    if match is None:
        return None
    uid, position, mac = match.groups()
    if not _verified(keys, _CLICK, f"{uid}.{position}", mac):
        return None
    return LinkRef(uid, int(position))


def _verified(keys: Sequence[bytes], context: bytes, payload: str, mac: str) -> bool:
    # Every key is tried, so the time taken does not tell which key (if any) matched.
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(_mac(key, context, payload), mac)
    return ok


def _mac(key: bytes, context: bytes, payload: str) -> str:
    digest = hmac.digest(key, context + payload.encode("ascii"), "sha256")[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
