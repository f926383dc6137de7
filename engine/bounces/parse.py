"""Read a bounce, complaint or auto-reply into one result per recipient.

Handles RFC 3464 delivery status notifications, RFC 5965 feedback reports (complaints),
Amazon SES notifications (``ses``), the plain-text bounces many MTAs still send (Postfix,
qmail, Exim, Exchange, Verizon, Japanese carriers) and auto-replies; what a few systems
mean by their own words is in ``vendors``. MIME is parsed by the stdlib ``email`` package; only the
human-readable text of vendor bounces is searched with patterns. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from email import message_from_bytes, message_from_string
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses

from engine.bounces.absence import AFTER_DATA, proves_absence
from engine.bounces.classify import Kind, find_status, kind_of, reason_of
from engine.bounces.ses import read_notification
from engine.bounces.vendors import vendor_reason

#: A quoted local part (``"neko..nyaan"@example.jp``) keeps its quotes: without them it is invalid.
_ADDRESS = re.compile(r"(?:\"[^\"\s@]+\"|[\w.!#$%&'*+/=?^`{|}~-]+)@[\w-]+(?:\.[\w-]+)+", re.ASCII)
_REPORTING_MTA = re.compile(r"^reporting-mta:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
_FINAL_RECIPIENT = re.compile(r"^(?:final|original)-recipient:", re.IGNORECASE | re.MULTILINE)
_PER_RECIPIENT = frozenset(
    {"final-recipient", "original-recipient", "action", "status", "diagnostic-code", "remote-mta"}
)
_VERP = re.compile(r"^bounces\+([A-Za-z0-9_-]+)@", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_DAEMONS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|daemon|root|nobody)@", re.I)
#: Lines where the copy of the returned message starts in plain-text bounces.
_DAEMON_NAME = re.compile(
    r"mailer-daemon|post_?master|mail delivery (?:system|subsystem)", re.IGNORECASE
)
#: The envelope recipient some MTAs (Verizon, Apache James) echo under "Message details".
_ECHOED_RCPT = re.compile(
    r"^[ \t]*RCPT TO:[ \t]*<?([\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+)>?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
#: Lines that name the sender, the message or the original's headers, never a recipient.
_NOT_A_RECIPIENT = re.compile(
    r"^\s*(?:message-id|in-reply-to|references|from|sender|reply-to|return-path|to|subject)\s*:"
    r"|\bmail from\b|\bfrom:\s*<",
    re.IGNORECASE,
)
_LISTED = re.compile(
    r"^[ \t]*<?([\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+)>?:?[ \t]*$", re.MULTILINE
)
_ORIGINAL_STARTS = re.compile(
    r"^(?:-+ ?(?:this is a copy of|original message|the original message|below this line|"
    r"message header follows|returned message|undelivered message)|"
    r"--- Below this line is a copy of the message|"
    r"Original (?:message|mail) (?:follows|as follows)|------ ?Original message|"
    r"Content-Type: message/rfc822|Return-Path:|Received: ?from|"
    r"-+ ?元のメッセージ|-+ ?送信メッセージ)",
    re.IGNORECASE | re.MULTILINE,
)
_SMTP_REPLY = re.compile(r"(?<![\d.])[45]\d\d[ -]")
_REPLY_LINE = re.compile(r"^[45]\d\d[ -]")
_VACATION_SUBJECT = re.compile(
    r"out of (?:the )?office|vacation|auto(?:matic)?[- ]?(?:reply|response)|away from|"
    r"自動応答|自動返信|不在|休暇",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (?:status|failure|failed|notification|has failed)|returned mail|"
    r"failure notice|mail delivery|non[- ]?delivery|could not be delivered|error sending|"
    r"delivery error|not delivered|delivery problem|loop alert|"
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
    verdicts = _ses_notification(message)
    if verdicts is None:
        verdicts = _feedback(message, original, subject)
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
    # Japanese carriers label EUC-JP bodies as ISO-2022-JP; try the Japanese encodings in turn
    for candidate in (charset, "utf-8", "iso-2022-jp", "euc-jp", "cp932", "latin-1"):
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


_HOTMAIL_COMPLAINT = re.compile(r"^\s*complaint about message from\b", re.IGNORECASE)


def _feedback(message: Message, original: Message | None, subject: str) -> list[Verdict] | None:
    if _HOTMAIL_COMPLAINT.search(subject) and original is not None:
        # Hotmail's junk-mail reports predate ARF: the complained-of message attached, no report
        recipients = [a.lower() for _, a in getaddresses(original.get_all("To", [])) if "@" in a]
        recipient = recipients[0] if recipients else ""
        return [Verdict(recipient, "complaint", "feedback", feedback_type="abuse")]
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


# --- Amazon SES notifications by email -------------------------------------------------------


def _ses_notification(message: Message) -> list[Verdict] | None:
    if message.is_multipart() or message.get_content_maintype() != "text":
        return None
    found = read_notification(_text(message))
    if found is None:
        return None
    verdicts = []
    for row in found:
        if row.event == "complaint":
            verdicts.append(
                Verdict(row.recipient, "complaint", "feedback", feedback_type=row.feedback_type)
            )
        else:
            verdicts.append(
                _verdict(row.recipient, row.action, row.status, row.diagnostic, row.remote_mta)
            )
    return verdicts


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
            _verdict(
                v.recipient,
                v.action,
                v.status,
                _near(report, v.recipient, (w.recipient for w in verdicts)),
                v.remote_mta,
                report,
            )
            if v.kind != "not_bounce"
            else v
            for v in verdicts
        ]
    report = _report_text(message)
    if AFTER_DATA.search(report):
        verdicts = [_after_data(v) for v in verdicts]
    origin = " ".join([_header(message, "From"), *_REPORTING_MTA.findall("\n".join(texts))])
    return [_by_vendor(v, origin, report) for v in verdicts]


def _by_vendor(verdict: Verdict, origin: str, report: str) -> Verdict:
    """Apply what the system that wrote the notice means by it (see ``vendors``)."""
    if verdict.kind not in ("hard", "soft"):
        return verdict
    reason = vendor_reason(origin, report, verdict.diagnostic)
    if reason is None or reason == verdict.reason:
        return verdict
    return replace(verdict, reason=reason, kind=kind_of(reason, verdict.status, verdict.diagnostic))


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


def _verdict(
    recipient: str, action: str, status: str, diagnostic: str, remote: str, context: str = ""
) -> Verdict:
    if action in ("delivered", "relayed", "expanded"):
        return Verdict(recipient, "not_bounce", "delivered", action, status, diagnostic, remote)
    after_data = bool(AFTER_DATA.search(diagnostic))
    reply = AFTER_DATA.sub("", diagnostic)
    reason = reason_of(status, reply)
    if reason == "userunknown" and not proves_absence(
        recipient, status, reply, context, after_data=after_data
    ):
        reason = "filtered"
    if action == "delayed" and reason not in ("mailboxfull",):
        reason = "expired"
    return Verdict(
        recipient,
        kind_of(reason, status, reply),
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
        # a multipart part whose boundary parameter was lost (an unfolded header line, as
        # Verizon writes it) is left unsplit: its raw text still carries the report
        unsplit = part.get_content_maintype() == "multipart" and not part.is_multipart()
        if unsplit or (
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


def _near(report: str, recipient: str, others: Iterable[str] = ()) -> str:
    """The lines of the report that explain one recipient's failure.

    The explanation ends where another recipient's starts, or where a second SMTP reply
    begins (Sendmail lists one reply per line, each about a different host or address).
    """
    lines = [line.strip() for line in report.splitlines()]
    others = [o for o in others if o != recipient]
    for index, line in enumerate(lines):
        if recipient in line.lower():
            window = [line]
            for following in lines[index + 1 : index + 6]:
                if any(o in following.lower() for o in others) or (
                    _REPLY_LINE.match(following) and any(_SMTP_REPLY.search(w) for w in window)
                ):
                    break
                if following:
                    window.append(following)
            if not any(_SMTP_REPLY.search(w) for w in window):
                # the reply is often further down, under "Technical details" and the like
                window += [w for w in lines if _SMTP_REPLY.search(w)][:1]
            return " ".join(window)[:1000]
    return " ".join(line for line in lines if line)[:1000]


def _mentioned(report: str) -> list[str]:
    """Addresses the report mentions, leaving out quoted headers and the envelope sender."""
    found = []
    for line in report.splitlines():
        if not _NOT_A_RECIPIENT.search(line):
            # a quoted address ('user@example.jp') keeps its quote as a valid local-part char
            found += [a.lstrip("'").lower() for a in _ADDRESS.findall(line)]
    return list(dict.fromkeys(found))


def _text_bounce(message: Message, original: Message | None, subject: str) -> list[Verdict]:
    sender = _header(message, "From")
    failed = [_address(a) for a in message.get_all("X-Failed-Recipients", []) for a in a.split(",")]
    report = _report_text(message)
    looks_like_bounce = bool(
        failed or _BOUNCE_SUBJECT.search(subject) or _DAEMON_NAME.search(sender)
    )
    if not looks_like_bounce:
        return []
    listed = [m.lower() for m in _LISTED.findall(report) if not _DAEMONS.match(m)]
    recipients = [a for a in failed if a]
    if listed and not any(a in report.lower() for a in recipients):
        # the report that carries the diagnostic wins over a header that disagrees with it
        recipients = listed
    if not recipients:  # the envelope recipient echoed back ("RCPT TO: address")
        recipients = [m.lower() for m in _ECHOED_RCPT.findall(report)]
    if not recipients:  # an address alone on its line, or ``<address>:``, names a recipient
        recipients = listed
    if not recipients:
        ours = {a.lower() for _, a in getaddresses(message.get_all("To", []))}
        recipients = [a for a in _mentioned(report) if a not in ours and not _DAEMONS.match(a)]
    if not recipients and original is not None:
        recipients = [a.lower() for _, a in getaddresses(original.get_all("To", [])) if "@" in a]
    verdicts = []
    for recipient in dict.fromkeys(recipients):
        diagnostic = _near(report, recipient, recipients)
        status = find_status(diagnostic)
        verdicts.append(_verdict(recipient, "failed", status, diagnostic, "", report))
    if AFTER_DATA.search(report):
        verdicts = [_after_data(v) for v in verdicts]
    return [_by_vendor(v, sender, report) for v in verdicts]


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
