"""Whether "user unknown" means the mailbox is missing, or is a filter's pretext.

Many filters refuse unwanted mail with the words of a missing mailbox. Only some evidence
proves absence; the rest makes the refusal a filter's (soft). Pure: no I/O.
"""

from __future__ import annotations

import re

#: A session transcript as Sendmail quotes it: ``>>> COMMAND`` then ``<<< reply`` lines.
_TRANSCRIPT_LINE = re.compile(r"^[ \t]*(>>>|<<<)[ \t]*(.*)$", re.MULTILINE)
#: au's reply to mail its user's filter refused: "user unknown" naming no address.
_FILTER_PRETEXT = re.compile(r"(?<![\d.])550 : user unknown", re.IGNORECASE)
#: Words only the mailbox store itself says (IMail's final delivery agent), never a filter.
_MAILBOX_STORE = re.compile(r"invalid final delivery userid", re.IGNORECASE)
_ADDRESSING_STATUS = re.compile(r"\b[45]\.1\.\d{1,3}\b")
_AT_RCPT = re.compile(
    r"\bRCPT\b|RCPT_TO|does not like recipient|recipient (?:name )?is not recognized",
    re.IGNORECASE,
)
#: Words saying a refusal came after the message was offered (a content decision).
AFTER_DATA = re.compile(
    r"after end of data|in reply to (?:end of )?DATA|after DATA",
    re.IGNORECASE,
)


def proves_absence(
    recipient: str, status: str, diagnostic: str, context: str, *, after_data: bool
) -> bool:
    """Say whether "user unknown" really means no such mailbox, not a filter's pretext.

    An addressing status (x.1.y), a refusal at RCPT TO, a reply that names the recipient
    (only RCPT replies are per recipient) or a mailbox store's own words prove it (Sisimai's
    rule too); the same words after DATA or without a command are what content filters say.
    au (KDDI) answers ``550 : User unknown``, naming no address, to mail its user's filter
    refused, even when a relay wraps that answer in an addressing status of its own.
    """
    if _FILTER_PRETEXT.search(diagnostic):
        return False
    if status.startswith(("5.1.", "4.1.")) or _ADDRESSING_STATUS.search(diagnostic):
        return True  # an addressing status (RFC 3463 x.1.y) says the address itself failed
    if after_data or transcript_command(context, recipient, diagnostic) == "DATA":
        return False
    text = f"{diagnostic}\n{context}"
    if _ADDRESSING_STATUS.search(text) or _AT_RCPT.search(text) or _MAILBOX_STORE.search(text):
        return True
    return _names_recipient(recipient, diagnostic)


def _names_recipient(recipient: str, diagnostic: str) -> bool:
    """Whether the SMTP reply in ``diagnostic`` starts by naming ``recipient``."""
    if not recipient:
        return False
    named = re.compile(
        r"(?<![\d.])[45]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3} )?[<\[]?" + re.escape(recipient),
        re.IGNORECASE,
    )
    return bool(named.search(diagnostic))


def transcript_command(report: str, recipient: str, diagnostic: str) -> str:
    """Return the command (``RCPT``, ``DATA``) a quoted transcript shows a refusal answering.

    Sendmail quotes the session (``>>> DATA`` / ``<<< 550 ...``); with pipelining a
    refusal quoted under DATA came after the message was offered, whatever its words.
    """
    command = ""
    for marker, text in _TRANSCRIPT_LINE.findall(report):
        words = text.split()
        if marker == ">>>":
            command = words[0].upper().rstrip(":") if words else ""
            continue
        reply = " ".join(words)
        if command and reply and (recipient in reply.lower() or reply[:40] in diagnostic):
            return command
    return ""
