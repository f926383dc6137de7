"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.

Receivers verify with a secret of their own, derived from ``NURTURE_SECRET_KEY``: the
installation's key also signs tracking links, so it never leaves the installation. Every
configured key signs (space-separated signatures), so a receiver keeps verifying while the
keys are rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

#: Prefix of a receiver secret, as the Standard Webhooks libraries expect it.
SECRET_PREFIX = "whsec_"  # noqa: S105 - a format marker, not a secret
#: Signatures older or newer than this are refused by ``verify`` (replay protection).
TOLERANCE_SECONDS = 5 * 60
_DERIVATION = b"nurture webhook signing v1"


def webhook_key(signing_key: bytes) -> bytes:
    """Return the webhook signing key derived from one of the installation's signing keys."""
    return hmac.new(signing_key, _DERIVATION, hashlib.sha256).digest()


def receiver_secret(signing_key: bytes) -> str:
    """Return the ``whsec_...`` secret a receiver verifies with."""
    return SECRET_PREFIX + base64.b64encode(webhook_key(signing_key)).decode()


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """Return ``v1,<base64>``: the HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under ``key``."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(
    keys: Sequence[bytes], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Return the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(k, webhook_id, timestamp, body) for k in keys),
    }


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: int) -> bool:
    """Say whether ``headers`` carry a valid, recent signature of ``body`` (a receiver's check).

    ``secret`` is the ``whsec_...`` text; ``now`` is the receiver's clock in Unix seconds.
    """
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        webhook_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        given = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = signature(key, webhook_id, timestamp, body)
    return any(hmac.compare_digest(expected, g) for g in given)
