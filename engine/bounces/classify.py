"""Which bounces are hard and which are soft: status codes and diagnostic phrases to reasons.

The reasons follow Sisimai's vocabulary so verdicts can be compared with it. Only a
recipient that does not exist (``userunknown``), a domain that does not exist
(``hostunknown``), an address that has moved (``hasmoved``) or a domain that accepts no
mail (``notaccept``, on a permanent error) is *hard*: retrying can never succeed, so the
address is suppressed at once. Every other failure (full mailbox, spam filter, policy,
expired, network) is *soft*: the same address may accept mail later.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Kind = Literal["hard", "soft", "complaint", "auto_reply", "not_bounce"]

HARD_REASONS: Final = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})

#: Diagnostic phrases, most specific first; the first reason with a matching phrase wins.
PHRASES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (
        "rejected",
        (
            r"after MAIL FROM",
            r"sender (?:address )?(?:rejected|refused|denied)",
        ),
    ),
    (
        "notaccept",
        (r"does not accept (?:any )?mail", r"no SMTP service", r"null MX", r"accepts no mail"),
    ),
    (
        "mailboxfull",
        (
            r"mailbox (?:is )?full",
            r"mailbox size limit",
            r"over ?quota",
            r"quota (?:exceeded|full)",
            r"exceeded (?:storage|quota)",
            r"insufficient (?:system )?storage",
            r"mail ?box.{0,20}exceeded",
            r"user.{0,20}over.{0,10}quota",
            r"disk quota",
            r"not enough (?:storage|space)",
            r"容量(?:が|を)?(?:超|オーバー|一杯|いっぱい)",
            r"メールボックスが(?:一杯|いっぱい|満杯)",
        ),
    ),
    ("exceedlimit", (r"message (?:size )?exceeds (?:the )?(?:fixed )?maximum", r"size limit")),
    ("mesgtoobig", (r"message (?:is )?too (?:big|large)", r"message size exceeds")),
    (
        "suspend",
        (
            r"account (?:has been |is )?(?:disabled|suspended|inactive|deactivated)",
            r"mailbox (?:is )?(?:disabled|inactive|suspended)",
            r"recipient suspended",
            r"not (?:an )?active",
            r"blocked by the recipient",
        ),
    ),
    (
        "hasmoved",
        (r"has been moved", r"address (?:has )?changed", r"is no longer (?:valid|available)"),
    ),
    (
        "networkerror",
        (r"malformed or unexpected name server reply", r"hop count exceeded", r"routing loop"),
    ),
    (
        "hostunknown",
        (
            r"host unknown",
            r"unknown host",
            r"host (?:or domain name )?not found",
            r"domain (?:name )?not found",
            r"no such domain",
            r"domain (?:does not|doesn't) exist",
            r"name service error",
            r"illegal host/domain",
            r"unrouteable mail domain",
            r"domain is not reachable",
            r"no route to host",
            r"domain is not configured",
        ),
    ),
    (
        "userunknown",
        (
            r"user ?unknown",
            r"unknown (?:user|recipient|local|address|mailbox)",
            r"no such (?:user|mailbox|recipient|address|person|local user|account)",
            r"(?:user|mailbox|recipient|address|account|addressee).{0,30}(?:does not|doesn't|did not|not) exist",
            r"(?:user|mailbox|recipient|account|address) (?:not found|unavailable|not known|is invalid|invalid)",
            r"invalid (?:recipient|mailbox|user|address)",
            r"not (?:a )?valid (?:recipient|mailbox|user)",
            r"unrouteable address",
            r"bad destination mailbox",
            r"no mailbox",
            r"mailbox not found",
            r"addressee unknown",
            r"undeliverable address",
            r"unknown or illegal alias",
            r"is not a known user",
            r"no longer (?:on server|available)",
            r"not listed in",
            r"unknown local part",
            r"account that you tried to reach does not exist",
            r"doesn't have a .{0,20}account",
            r"recipient not found",
            r"user not found",
            r"recipient address rejected(?!: )",
            r"invalid final delivery userid",
            r"did not reach the following recipient",
            # Exchange Online's directory-based edge blocking: not in the tenant's directory
            r"recipient address rejected: access denied",
            r"存在し(?:ない|ません)",
            r"宛先(?:が)?不明",
            r"(?:ユーザ|ユーザー|アドレス|宛先)が(?:見つかりません|存在しません)",
        ),
    ),
    (
        "expired",
        (
            r"delivery time expired",
            r"retry (?:time|timeout) (?:not reached|exceeded)",
            r"could not be delivered for \d+",
            r"has not been delivered for",
            r"giving up",
            r"too long",
            r"message (?:has been )?expired",
            r"delivery expired",
            r"timeout exceeded",
            r"was not delivered within",
        ),
    ),
    (
        "spamdetected",
        (r"spam", r"junk mail", r"bulk mail", r"unsolicited"),
    ),
    (
        "blocked",
        (
            r"blocked",
            r"black ?list",
            r"block ?list",
            r"\brbl\b",
            r"spamhaus",
            r"reputation",
            r"refused",
            r"access denied",
            r"poor reputation",
            r"listed",
        ),
    ),
    ("virusdetected", (r"virus",)),
    ("securityerror", (r"authentication", r"\bspf\b", r"dkim", r"dmarc", r"unauthenticated")),
    ("networkerror", (r"dns", r"network", r"mx record", r"connection", r"loop")),
    ("mailererror", (r"mailer error", r"command died", r"command failed", r"program")),
    ("systemfull", (r"system (?:is )?full", r"insufficient disk")),
    # fml (a mailing-list manager) refuses a message it has already seen: a loop, not the address
    ("systemerror", (r"duplicated message-id", r"mail loop")),
    ("toomanyconn", (r"too many (?:connections|messages|recipients)", r"rate limit")),
)

_COMPILED: Final = tuple(
    (reason, re.compile("|".join(patterns), re.IGNORECASE)) for reason, patterns in PHRASES
)

#: Status codes (RFC 3463) to reasons, by longest matching prefix; ``x`` is the class digit.
STATUS_REASONS: Final[dict[str, str]] = {
    "x.1.0": "userunknown",
    "x.1.1": "userunknown",
    "x.1.2": "hostunknown",
    "x.1.3": "syntaxerror",
    "x.1.4": "userunknown",
    "x.1.6": "hasmoved",
    "x.1.10": "notaccept",
    "x.2.1": "suspend",
    "x.2.2": "mailboxfull",
    "x.2.3": "exceedlimit",
    "x.2.4": "mailboxfull",
    "x.3.0": "systemerror",
    "x.3.1": "systemfull",
    "x.3.4": "mesgtoobig",
    "x.3.5": "systemerror",
    "x.4.1": "networkerror",
    "x.4.2": "networkerror",
    "x.4.3": "networkerror",
    "x.4.4": "hostunknown",
    "x.4.6": "networkerror",
    "x.4.7": "expired",
    "x.5.3": "syntaxerror",
    "x.6.0": "contenterror",
    "x.7.1": "rejected",
    "x.7.0": "securityerror",
    "x.7.26": "securityerror",
}

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"(?<![\d.])([245]\d\d)(?:[ -]|$)")


def find_status(text: str) -> str:
    """Return the first RFC 3463 status code (``5.1.1``) in ``text``, or ``""``."""
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else ""


def find_reply_code(text: str) -> str:
    """Return the first SMTP reply code (``550``) in ``text``, or ``""``."""
    match = _REPLY.search(text)
    return match.group(1) if match else ""


def reason_of(status: str, diagnostic: str) -> str:
    """Name why delivery failed, from the diagnostic's phrases first and the status second."""
    by_status = _status_reason(status)
    for reason, pattern in _COMPILED:
        if pattern.search(diagnostic):
            # "no longer on server" under 5.1.6 is a move, not an unknown user
            if reason == "userunknown" and by_status in ("hasmoved", "hostunknown"):
                return by_status
            return reason
    return by_status


def _status_reason(status: str) -> str:
    if status:
        _, subject, detail = status.split(".")
        found = STATUS_REASONS.get(f"x.{subject}.{detail}")
        if found:
            return found
        if status.startswith("4"):
            return "expired" if subject == "4" else "undefined"
    return "undefined"


def kind_of(reason: str, status: str, diagnostic: str) -> Kind:
    """Say whether a failure is hard (suppress now) or soft (count, retry later)."""
    if reason not in HARD_REASONS:
        return "soft"
    temporary = status.startswith("4") or find_reply_code(diagnostic).startswith("4")
    return "soft" if temporary else "hard"
