"""One attempt at one webhook, and what its outcome means for the next attempt.

``attempt`` makes the HTTP call and never raises: every failure becomes an ``Outcome``.
The call goes to the address ``safety.resolve`` checked, follows no redirect, is cut off
after the timeout, and reads at most ``RESPONSE_LIMIT`` bytes of the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from engine.webhooks.safety import UnresolvableHost, UnsafeDestination, resolve
from engine.webhooks.signing import signature_headers

#: Attempts before a delivery is dead: the first, then 12 retries 30 s apart doubling, capped at
#: 8 h, which span about 24 h.
MAX_ATTEMPTS = 13
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=8)
#: Each delay is scaled by a random factor in [1 - JITTER, 1 + JITTER] so retries spread out.
JITTER = 0.2
#: The longest a single call may take, whatever its step asks for.
MAX_TIMEOUT = timedelta(seconds=30)
#: Bytes of a receiver's answer read at most (the rest is dropped unread).
RESPONSE_LIMIT = 64 * 1024
#: Characters of an answer or error kept on the delivery.
ERROR_TEXT = 500
USER_AGENT = "Nurture-Webhooks/1"
#: Statuses that mean "try again later" although they are 4xx.
RETRYABLE_4XX = frozenset({408, 429})

Verdict = Literal["delivered", "retry", "dead"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What to send on one attempt: the stored request, its number (1-based) and time limit."""

    id: int
    webhook_id: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: str | None
    number: int
    max_attempts: int
    timeout: timedelta


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended: ``verdict``, the HTTP status if any, and a short explanation.

    ``retry_after`` is the receiver's own ``Retry-After`` (429, 503); ``response`` holds the
    start of a successful answer, which a CRM may use to return its record's id.
    """

    verdict: Verdict
    status: int | None = None
    error: str | None = None
    retry_after: timedelta | None = None
    response: str | None = None


def verdict_for(status: int) -> Verdict:
    """Map an HTTP status to what follows: 2xx delivered; 5xx, 408, 429 retry; others dead."""
    if 200 <= status < 300:
        return "delivered"
    if status >= 500 or status in RETRYABLE_4XX:
        return "retry"
    return "dead"


def retry_delay(attempt: int, *, jitter: float) -> timedelta:
    """Return the wait after failed attempt ``attempt`` (1-based); ``jitter`` is in [0, 1)."""
    base: timedelta = min(FIRST_RETRY * 2 ** min(attempt - 1, 30), MAX_RETRY)
    return base * (1 - JITTER + 2 * JITTER * jitter)


def attempt(
    request: Attempt,
    *,
    keys: Sequence[bytes],
    client: httpx.Client,
    allow_private: bool,
    now: datetime,
) -> Outcome:
    """Sign and send ``request`` once; return its outcome (never raises for the call's failures)."""
    try:
        destination = resolve(request.url, allow_private=allow_private)
    except UnsafeDestination as error:
        return Outcome("dead", error=error.message)
    except UnresolvableHost as error:
        return Outcome("retry", error=error.message)
    body = (request.body or "").encode()
    headers = {
        **request.headers,
        **signature_headers(keys, request.webhook_id, int(now.timestamp()), body),
        "Host": destination.host_header,
        "User-Agent": USER_AGENT,
        # Uncompressed, so the bounded read bounds what is held in memory.
        "Accept-Encoding": "identity",
    }
    extensions = {"sni_hostname": destination.host} if request.url.startswith("https") else {}
    seconds = min(request.timeout, MAX_TIMEOUT).total_seconds()
    try:
        with client.stream(
            request.method,
            destination.url,
            headers=headers,
            content=body if request.body is not None else None,
            timeout=httpx.Timeout(seconds),
            extensions=extensions,
            follow_redirects=False,
        ) as response:
            text = _read_bounded(response)
            status = response.status_code
            retry_after = _retry_after(response.headers.get("retry-after"), now)
    except httpx.TimeoutException:
        return Outcome("retry", error=f"no answer within {seconds:g} s")
    except httpx.HTTPError as error:
        return Outcome("retry", error=f"{type(error).__name__}: {error}"[:ERROR_TEXT])
    verdict = verdict_for(status)
    if verdict == "delivered":
        return Outcome(verdict, status=status, response=text[:ERROR_TEXT] or None)
    if 300 <= status < 400:
        where = response.headers.get("location", "?")
        return Outcome("dead", status=status, error=f"redirect to {where} not followed")
    return Outcome(
        verdict,
        status=status,
        error=f"HTTP {status}: {text[:ERROR_TEXT]}".rstrip(": "),
        retry_after=retry_after,
    )


def _read_bounded(response: httpx.Response) -> str:
    received = bytearray()
    for chunk in response.iter_raw():
        received += chunk
        if len(received) >= RESPONSE_LIMIT:
            break
    return bytes(received[:RESPONSE_LIMIT]).decode("utf-8", errors="replace")


def _retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Read ``Retry-After`` (seconds or an HTTP date) into a wait, capped at ``MAX_RETRY``."""
    if not value:
        return None
    try:
        wait = timedelta(seconds=int(value))
    except ValueError:
        try:
            wait = parsedate_to_datetime(value) - now
        except (TypeError, ValueError):
            return None
    return min(max(wait, timedelta(0)), MAX_RETRY)
