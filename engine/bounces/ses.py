"""Read the JSON notifications Amazon SES sends by email (through an SNS topic).

An SES sending account subscribed to an email topic gets bounces, complaints and deliveries
as a JSON document in a plain-text mail instead of a DSN. The SNS envelope carries the SES
event as a JSON string in its ``Message`` field; the event lists the recipients affected.
Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

Event = Literal["bounce", "complaint", "delivery"]

#: Sendmail splits a line longer than its limit by appending "!" and continuing on an indented
#: line; undone before decoding because the split lands inside JSON strings.
_SENDMAIL_SPLIT = re.compile(r"!\r?\n ")


@dataclass(frozen=True)
class SesRecipient:
    """One recipient named in an SES notification and what SES says happened to it."""

    recipient: str
    event: Event
    action: str = ""
    status: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    feedback_type: str = ""


def read_notification(text: str) -> list[SesRecipient] | None:
    """Return the recipients of an SES notification, or None when ``text`` is not one."""
    stripped = text.strip()
    if not stripped.startswith("{") or "notificationType" not in stripped:
        return None
    document = _load(stripped)
    if document is None:
        return None
    if isinstance(document.get("Message"), str):  # the SNS envelope around the SES event
        document = _load(document["Message"])
        if document is None:
            return None
    return _recipients(document)


def _load(text: str) -> dict[str, Any] | None:
    """Decode the JSON object ``text`` starts with; SNS appends an unsubscribe footer to it."""
    decoder = json.JSONDecoder(strict=False)
    for candidate in (text, _SENDMAIL_SPLIT.sub("", text)):
        try:
            loaded, _ = decoder.raw_decode(candidate)
        except ValueError:
            continue
        return loaded if isinstance(loaded, dict) else None
    return None


def _recipients(event: dict[str, Any]) -> list[SesRecipient] | None:
    kind = str(event.get("notificationType") or event.get("eventType") or "").lower()
    if kind == "bounce":
        bounce = event.get("bounce") or {}
        remote = _after_semicolon(bounce.get("reportingMTA"))
        return [
            SesRecipient(
                str(row.get("emailAddress", "")).lower(),
                "bounce",
                str(row.get("action") or "failed").lower(),
                str(row.get("status") or ""),
                _after_semicolon(row.get("diagnosticCode")),
                remote,
            )
            for row in bounce.get("bouncedRecipients") or []
            if isinstance(row, dict)
        ]
    if kind == "complaint":
        complaint = event.get("complaint") or {}
        feedback = str(complaint.get("complaintFeedbackType") or "abuse").lower()
        return [
            SesRecipient(
                str(row.get("emailAddress", "")).lower(), "complaint", feedback_type=feedback
            )
            for row in complaint.get("complainedRecipients") or []
            if isinstance(row, dict)
        ]
    if kind == "delivery":
        delivery = event.get("delivery") or {}
        reply = str(delivery.get("smtpResponse") or "")
        return [
            SesRecipient(
                str(address).lower(),
                "delivery",
                "delivered",
                _status_in(reply),
                reply,
                str(delivery.get("reportingMTA") or ""),
            )
            for address in delivery.get("recipients") or []
        ]
    return None


def _after_semicolon(value: object) -> str:
    """``smtp; 550 5.1.1 user unknown`` → ``550 5.1.1 user unknown``."""
    return str(value or "").split(";", 1)[-1].strip()


def _status_in(reply: str) -> str:
    match = re.search(r"\b[245]\.\d{1,3}\.\d{1,3}\b", reply)
    return match.group(0) if match else ""
