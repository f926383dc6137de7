"""Tracked mail: links rewritten to signed click URLs, an open pixel, and a hidden decoy link.

Every ``http(s)`` link of the HTML part becomes ``/t/c/{token}``; the target (with UTM
parameters added where the link has none) is stored server-side as a ``links`` row, so the
redirect never reads a URL from the request. ``mailto:``/``tel:`` links, the unsubscribe
and preference links, and links marked ``data-nurture-track="off"`` are left alone. The
text part's copies of the same URLs point at the same tracked URLs. A hidden decoy link
(position 0, which no person can see or click) tells security scanners that follow every
link from people. MJML output is regular HTML, so a pattern over ``<a …>`` tags is enough
here; the parser in ``templates.text`` still builds the text part from the original.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from engine.tracking.tokens import click_token, open_token

#: The decoy link's position; real links count from 1.
DECOY = 0
_ANCHOR = re.compile(r"<a\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"""(\shref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_NO_TRACK = re.compile(r"""data-nurture-track\s*=\s*["']?off""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_BODY_START = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Campaign:
    """What UTM parameters say about a message: the journey or broadcast, and the step."""

    name: str
    content: str


@dataclass(frozen=True, slots=True)
class TrackedBodies:
    """The bodies as sent, and each tracked link's stored target by position."""

    html: str
    text: str
    links: dict[int, str]


def track(
    html_body: str,
    text_body: str,
    *,
    uid: str,
    public_url: str,
    keys: Sequence[bytes],
    campaign: Campaign,
    untracked: Sequence[str] = (),
) -> TrackedBodies:
    """Rewrite links to tracked URLs and add the open pixel and the decoy link.

    ``untracked`` are URLs never rewritten (the message's own unsubscribe links).
    """
    base = public_url.rstrip("/")
    links: dict[int, str] = {DECOY: f"{base}/"}
    tracked_by_url: dict[str, str] = {}
    skip = set(untracked)

    def rewrite_anchor(anchor: re.Match[str]) -> str:
        tag = anchor.group(0)
        if _NO_TRACK.search(tag):
            return tag
        href = _HREF.search(tag)
        if href is None:
            return tag
        url = html.unescape(href.group(3)).strip()
        if url in skip or urlsplit(url).scheme.lower() not in ("http", "https"):
            return tag
        position = len(links)
        links[position] = with_utm(url, campaign)
        tracked = f"{base}/t/c/{click_token(uid, position, keys)}"
        tracked_by_url.setdefault(url, tracked)
        start, end = href.span(3)
        return tag[:start] + tracked + tag[end:]

    body = _ANCHOR.sub(rewrite_anchor, html_body)
    decoy = (
        f'<a href="{base}/t/c/{click_token(uid, DECOY, keys)}" tabindex="-1" aria-hidden="true" '
        'style="display:none;font-size:0;line-height:0;max-height:0;overflow:hidden">&#8203;</a>'
    )
    pixel = (
        f'<img src="{base}/t/o/{open_token(uid, keys)}.gif" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" />'
    )
    opening = _BODY_START.search(body)
    body = body[: opening.end()] + decoy + body[opening.end() :] if opening else decoy + body
    closing = list(_BODY_END.finditer(body))
    body = (
        body[: closing[-1].start()] + pixel + body[closing[-1].start() :]
        if closing
        else body + pixel
    )
    text = text_body
    # Longest first, so a URL that prefixes another is not replaced inside it.
    for url in sorted(tracked_by_url, key=len, reverse=True):
        text = text.replace(url, tracked_by_url[url])
    return TrackedBodies(html=body, text=text, links=links)


def with_utm(url: str, campaign: Campaign) -> str:
    """Add ``utm_source/medium/campaign/content`` to ``url``, keeping any it already has."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {name for name, _ in query}
    wanted = {
        "utm_source": "nurture",
        "utm_medium": "email",
        "utm_campaign": campaign.name,
        "utm_content": campaign.content,
    }
    if present & wanted.keys():
        return url  # the author chose their own tagging: leave it whole
    query += list(wanted.items())
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
