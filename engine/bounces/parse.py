"""Read a bounce, complaint or auto-reply into one result per recipient.

Handles RFC 3464 delivery status notifications, RFC 5965 feedback reports (complaints),
the plain-text bounces many MTAs still send (Postfix, qmail, Exim, Exchange, Japanese
carriers) and auto-replies. MIME is parsed by the stdlib ``email`` package; only the
human-readable text of vendor bounces is searched with patterns. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from email import message_from_bytes, message_from_string
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses

from engine.bounces.classify import Kind, find_status, kind_of, reason_of

_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.ASCII)
_FINAL_RECIPIENT = re.compile(r"^(?:final|original)-recipient:", re.IGNORECASE | re.MULTILINE)
_PER_RECIPIENT = frozenset(
    {"final-recipient", "original-recipient", "action", "status", "diagnostic-code", "remote-mta"}
)
_VERP = re.compile(r"^bounces\+([A-Za-z0-9_-]+)@", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_DAEMONS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|daemon|root|nobody)@", re.I)
#: Lines where the copy of the returned message starts in plain-text bounces.
_DAEMON_NAME = re.compile(r"mailer-daemon|postmaster|mail delivery (?:system|subsystem)", re.I)
_LISTED = re.compile(
    r"^[ \t]*<?([\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+)>?:?[ \t]*$", re.MULTILINE
)
_ORIGINAL_STARTS = re.compile(
    r"^(?:-+ ?(?:this is a copy of|original message|the original message|below this line|"
    r"message header follows|returned message|undelivered message)|"
    r"--- Below this line is a copy of the message|"
    r"Original message follows|------ ?Original message|"
    r"Content-Type: message/rfc822|Return-Path:|Received: from|"
    r"-+ ?元のメッセージ|-+ ?送信メッセージ)",
    re.IGNORECASE | re.MULTILINE,
)
_ADDRESSING_STATUS = re.compile(r"\b[45]\.1\.\d{1,3}\b")
_SMTP_REPLY = re.compile(r"(?<![\d.])[45]\d\d[ -]")
_AT_RCPT = re.compile(
    r"\bRCPT\b|RCPT_TO|does not like recipient|recipient (?:name )?is not recognized",
    re.IGNORECASE,
)
_AFTER_DATA = re.compile(
    r"after end of data|in reply to (?:end of )?DATA|after DATA",
    re.IGNORECASE,
)
_VACATION_SUBJECT = re.compile(
    r"out of (?:the )?office|vacation|auto(?:matic)?[- ]?(?:reply|response)|away from|"
    r"自動応答|自動返信|不在|休暇",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (?:status|failure|failed|notification|has failed)|returned mail|"
    r"failure notice|mail delivery|non[- ]?delivery|could not be delivered|error sending|"
    r"delivery error|not delivered|delivery problem|"
    r"配信不能|配送不能|配信エラー|宛先不明|返送|エラーメール",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """What happened to one recipient of a message we sent."""

    recipient: str
    kind: Kind
    reason: str
    action: str = ""
    status: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    feedback_type: str = ""


@dataclass(frozen=True)
class ParsedMail:
    """Every verdict in one inbound message, and what it says about the message it returns."""

    verdicts: list[Verdict]
    original_message_ids: list[str] = field(default_factory=list)
    verp_uids: list[str] = field(default_factory=list)
    subject: str = ""


def parse_bytes(raw: bytes) -> ParsedMail:
    """Parse a raw RFC 5322 message (bytes, any line endings) into verdicts."""
    message = message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=compat32)
    return parse_message(message)


def parse_message(message: Message) -> ParsedMail:
    """Parse an already parsed message into verdicts: complaint, DSN, text bounce or reply."""
    subject = _header(message, "Subject")
    original = _original_headers(message)
    ids = _MESSAGE_ID.findall(original.get("Message-ID", "") if original else "")
    uids = _verp_uids(original)
    verdicts = _feedback(message, original)
    if verdicts is None:
        verdicts = _delivery_status(message)
    if not verdicts:
        verdicts = _text_bounce(message, original, subject)
    if not verdicts:
        verdicts = _auto_reply(message, subject)
    return ParsedMail(verdicts, ids, uids, subject)


def verp_uid(address: str) -> str | None:
    """Return the message uid in a VERP address ``bounces+UID@domain``, or None."""
    match = _VERP.match(address.strip().strip("<>"))
    return match.group(1) if match else None


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError):
        return str(value)


def _verp_uids(original: Message | None) -> list[str]:
    if original is None:
        return []
    found = []
    for name in ("Return-Path", "Sender", "From"):
        for _, address in getaddresses(original.get_all(name, [])):
            uid = verp_uid(address)
            if uid:
                found.append(uid)
    return found


def _original_headers(message: Message) -> Message | None:
    """Find the headers of the message being returned, attached or quoted."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                inner = payload[0]
                return inner if isinstance(inner, Message) else None
        if kind in ("text/rfc822-headers", "text/rfc822-header"):
            return message_from_string(_text(part), policy=compat32)
    return None


def _text(part: Message) -> str:
    """Decode a leaf part's text with its declared charset, forgiving wrong labels."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "us-ascii"
    for candidate in (charset, "utf-8", "iso-2022-jp", "cp932", "latin-1"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


def _fields(text: str) -> list[Message]:
    """Split ``name: value`` blocks (DSN or ARF fields) separated by blank lines."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    return [message_from_string(block.strip() + "\n", policy=compat32) for block in blocks]


def _address(value: str | None) -> str:
    """The address in a DSN/ARF field such as ``rfc822; <user@example.com>``."""
    if not value:
        return ""
    found = _ADDRESS.search(value.split(";", 1)[-1])
    return found.group(0).lower() if found else ""


def _unfold(value: str | None) -> str:
    return " ".join((value or "").split())


# --- RFC 5965 feedback reports -------------------------------------------------------------


def _feedback(message: Message, original: Message | None) -> list[Verdict] | None:
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        report = _fields(_part_text(part))
        fields = report[0] if report else Message()
        recipient = _address(fields.get("Original-Rcpt-To"))
        if not recipient and original is not None:
            recipients = [a for _, a in getaddresses(original.get_all("To", [])) if "@" in a]
            recipient = recipients[0].lower() if recipients else ""
        feedback_type = _unfold(fields.get("Feedback-Type")).lower() or "abuse"
        return [Verdict(recipient, "complaint", "feedback", feedback_type=feedback_type)]
    return None


def _part_text(part: Message) -> str:
    """The text of a part the stdlib may have parsed into sub-messages (delivery-status)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        # as_bytes() restores raw 8-bit header bytes (UTF-8 diagnostics) that as_string() mangles
        blocks = (
            s.as_bytes().decode("utf-8", "replace") for s in payload if isinstance(s, Message)
        )
        return "\n\n".join(blocks)
    return _text(part)


# --- RFC 3464 delivery status notifications ------------------------------------------------


def _delivery_status(message: Message) -> list[Verdict]:
    texts = [
        _part_text(part)
        for part in message.walk()
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
    ]
    if not texts and not message.is_multipart():
        # a report whose MIME structure is broken still carries the RFC 3464 fields
        body = _text(message)
        if _FINAL_RECIPIENT.search(body):
            texts = [body[_FINAL_RECIPIENT.search(body).start() :]]  # type: ignore[union-attr]
    verdicts: list[Verdict] = []
    report = _report_text(message)
    for text in texts:
        for fields in _recipient_fields(text):
            recipient = _address(fields.get("final-recipient")) or _address(
                fields.get("original-recipient")
            )
            if not recipient:
                continue
            action = _unfold(fields.get("action")).lower()
            diagnostic = _unfold(fields.get("diagnostic-code")).split(";", 1)[-1].strip()
            status = _best_status(find_status(_unfold(fields.get("status"))), diagnostic)
            remote = _unfold(fields.get("remote-mta")).split(";", 1)[-1].strip()
            verdicts.append(_verdict(recipient, action, status, diagnostic, remote, report))
    if verdicts and all(not v.diagnostic for v in verdicts):
        report = _report_text(message)
        verdicts = [
            _verdict(v.recipient, v.action, v.status, _near(report, v.recipient), v.remote_mta)
            if v.kind != "not_bounce"
            else v
            for v in verdicts
        ]
    report = _report_text(message)
    if _AFTER_DATA.search(report):
        verdicts = [_after_data(v) for v in verdicts]
    return verdicts


def _recipient_fields(text: str) -> list[dict[str, str]]:
    """Per-recipient field groups; a repeated field name starts the next recipient.

    Some MTAs (AOL) omit the blank line between recipients, so blocks alone cannot be trusted.
    """
    groups: list[dict[str, str]] = []
    for block in _fields(text):
        current: dict[str, str] = {}
        for name, value in block.items():
            key = name.lower()
            if key in current and key in _PER_RECIPIENT:
                groups.append(current)
                current = {}
            current[key] = str(value)
        groups.append(current)
    return groups


def _best_status(status: str, diagnostic: str) -> str:
    """Prefer the diagnostic's specific code to a generic ``x.0.0`` Status field."""
    specific = find_status(diagnostic)
    if not status or (status.endswith(".0.0") and specific):
        return specific or status
    return status


def _after_data(verdict: Verdict) -> Verdict:
    """A recipient refused only after DATA was accepted at RCPT: a content filter, not absence."""
    if verdict.reason != "userunknown":
        return verdict
    return replace(verdict, kind="soft", reason="filtered")


def _proves_absence(status: str, diagnostic: str) -> bool:
    """Whether "user unknown" really means no such mailbox, not a filter's pretext.

    Only an addressing status (x.1.y) or a refusal at RCPT TO proves it (Sisimai's rule
    too); the same words after DATA or without a command are what content filters say.
    """
    if status.startswith(("5.1.", "4.1.")) or _ADDRESSING_STATUS.search(diagnostic):
        return True  # an addressing status (RFC 3463 x.1.y) says the address itself failed
    return bool(_AT_RCPT.search(diagnostic))


def _verdict(
    recipient: str, action: str, status: str, diagnostic: str, remote: str, context: str = ""
) -> Verdict:
    if action in ("delivered", "relayed", "expanded"):
        return Verdict(recipient, "not_bounce", "delivered", action, status, diagnostic, remote)
    if _AFTER_DATA.search(diagnostic):
        return _after_data(
            _verdict(recipient, action, status, _AFTER_DATA.sub("", diagnostic), remote, context)
        )
    reason = reason_of(status, diagnostic)
    if reason == "userunknown" and not _proves_absence(status, f"{diagnostic}\n{context}"):
        reason = "filtered"
    if action == "delayed" and reason not in ("mailboxfull",):
        reason = "expired"
    return Verdict(
        recipient,
        kind_of(reason, status, diagnostic),
        reason,
        action or "failed",
        status,
        diagnostic,
        remote,
    )


# --- plain-text vendor bounces -------------------------------------------------------------


def _report_text(message: Message) -> str:
    """The human-readable report: text parts outside the returned message, cut at its copy."""
    texts: list[str] = []
    for part in _leaves(message):
        if (
            part.get_content_maintype() == "text"
            and part.get_content_type() != "text/rfc822-headers"
        ):
            text = _text(part)
            if part.get_content_subtype() == "html":
                text = re.sub(r"<[^>]+>", " ", text)
            cut = _ORIGINAL_STARTS.search(text)
            texts.append(text[: cut.start()] if cut and cut.start() > 0 else text)
    return "\n".join(texts)


def _leaves(message: Message) -> list[Message]:
    """Leaf parts, not descending into an attached copy of the original message."""
    if message.get_content_type() == "message/rfc822":
        return []
    payload = message.get_payload()
    if message.is_multipart() and isinstance(payload, list):
        return [leaf for sub in payload if isinstance(sub, Message) for leaf in _leaves(sub)]
    return [message]


def _near(report: str, recipient: str) -> str:
    """The lines of the report that explain one recipient's failure."""
    lines = [line.strip() for line in report.splitlines()]
    for index, line in enumerate(lines):
        if recipient in line.lower():
            window = [w for w in lines[index : index + 6] if w]
            if not any(_SMTP_REPLY.search(w) for w in window):
                # the reply is often further down, under "Technical details" and the like
                window += [w for w in lines if _SMTP_REPLY.search(w)][:1]
            return " ".join(window)[:1000]
    return " ".join(line for line in lines if line)[:1000]


def _text_bounce(message: Message, original: Message | None, subject: str) -> list[Verdict]:
    sender = _header(message, "From")
    failed = [_address(a) for a in message.get_all("X-Failed-Recipients", []) for a in a.split(",")]
    report = _report_text(message)
    looks_like_bounce = bool(
        failed or _BOUNCE_SUBJECT.search(subject) or _DAEMON_NAME.search(sender)
    )
    if not looks_like_bounce:
        return []
    recipients = [a for a in failed if a]
    if not recipients:  # an address alone on its line, or ``<address>:``, names a recipient
        recipients = [m.lower() for m in _LISTED.findall(report) if not _DAEMONS.match(m)]
    if not recipients:
        ours = {a.lower() for _, a in getaddresses(message.get_all("To", []))}
        recipients = [
            a.lower()
            for a in dict.fromkeys(_ADDRESS.findall(report))
            if a.lower() not in ours and not _DAEMONS.match(a)
        ]
    if not recipients and original is not None:
        recipients = [a.lower() for _, a in getaddresses(original.get_all("To", [])) if "@" in a]
    verdicts = []
    for recipient in dict.fromkeys(recipients):
        diagnostic = _near(report, recipient)
        status = find_status(diagnostic)
        verdicts.append(_verdict(recipient, "failed", status, diagnostic, "", report))
    if _AFTER_DATA.search(report):
        verdicts = [_after_data(v) for v in verdicts]
    return verdicts


# --- auto-replies --------------------------------------------------------------------------


def _auto_reply(message: Message, subject: str) -> list[Verdict]:
    auto = _header(message, "Auto-Submitted").lower()
    flagged = (
        auto.startswith("auto-replied")
        or message.get("X-Autoreply") is not None
        or message.get("X-Autorespond") is not None
        or _header(message, "Precedence").lower() == "auto_reply"
    )
    if not (flagged or _VACATION_SUBJECT.search(subject)):
        return []
    sender = [a.lower() for _, a in getaddresses(message.get_all("From", [])) if "@" in a]
    return [Verdict(sender[0] if sender else "", "auto_reply", "vacation")]
