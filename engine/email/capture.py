"""The embedded mode's mail catcher: an SMTP server that keeps every message under var/mailbox/.

Nothing leaves the machine: the capture accepts any sender and recipient, stores each
message as ``<id>.eml`` (``id`` = UTC timestamp + short random part, so names sort by
arrival) and appends a line to ``index.jsonl`` for quick listing. The reader parses with
the stdlib ``email`` package, so RFC 2047 subjects and any charset come back decoded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from engine.clock import utcnow
from engine.email.listener import SmtpListener
from engine.errors import ConfigurationError, NotFound
from engine.settings import Settings

log = logging.getLogger(__name__)

CAPTURE_HOST = "127.0.0.1"
MAILBOX = "mailbox"
INDEX = "index.jsonl"
_ID = re.compile(r"^\d{8}T\d{12}-[0-9a-f]{8}$")
_PARSER = BytesParser(policy=policy.default)


def effective_smtp_url(settings: Settings, capture_port: int) -> str:
    """Return where mail goes: ``NURTURE_SMTP_URL``, or the capture in embedded mode.

    Raises ConfigurationError in production when ``NURTURE_SMTP_URL`` is not set.
    """
    if settings.smtp_url:
        return settings.smtp_url
    if settings.embedded:
        return f"smtp://{CAPTURE_HOST}:{capture_port}"
    raise ConfigurationError(
        "NURTURE_SMTP_URL is required with PostgreSQL or Redis: "
        "smtp://host:port or smtps://user:password@host:port"
    )


def mailbox_dir(var_dir: Path) -> Path:
    """The folder captured messages are kept in."""
    return var_dir / MAILBOX


@dataclass(frozen=True, slots=True)
class CapturedSummary:
    """One captured message as the mailbox list shows it (all text already decoded)."""

    id: str
    received_at: str
    envelope_from: str
    envelope_to: list[str]
    subject: str
    from_: str
    to: str
    date: str
    size: int


@dataclass(frozen=True, slots=True)
class Attachment:
    """A non-body part: its file name, type and decoded size in bytes."""

    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """A captured message with its headers and decoded text and HTML bodies."""

    summary: CapturedSummary
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[Attachment] = field(default_factory=list)


def store_message(
    var_dir: Path,
    raw: bytes,
    *,
    envelope_from: str,
    envelope_to: list[str],
    received_at: datetime | None = None,
) -> CapturedSummary:
    """Keep one message: write ``<id>.eml`` atomically, then add it to the index."""
    received = received_at or utcnow()
    folder = mailbox_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    message_id = f"{received.astimezone(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}"
    temporary = folder / f".{message_id}.eml.tmp"
    temporary.write_bytes(raw)
    os.replace(temporary, folder / f"{message_id}.eml")
    summary = _summarize(
        message_id,
        _PARSER.parsebytes(raw),
        received=received,
        envelope_from=envelope_from,
        envelope_to=envelope_to,
        size=len(raw),
    )
    line = json.dumps(asdict(summary), ensure_ascii=False) + "\n"
    with _index_lock, (folder / INDEX).open("a", encoding="utf-8") as index:
        index.write(line)
    return summary


_index_lock = threading.Lock()


def list_captured(var_dir: Path, limit: int = 100) -> list[CapturedSummary]:
    """Return up to ``limit`` captured messages, newest first."""
    path = mailbox_dir(var_dir) / INDEX
    if limit <= 0 or not path.exists():
        return []
    summaries: list[CapturedSummary] = []
    for line in reversed(path.read_text(encoding="utf-8").splitlines()):
        if len(summaries) >= limit:
            break
        try:
            summaries.append(CapturedSummary(**json.loads(line)))
        except (ValueError, TypeError):  # a line cut short by a crash mid-write
            continue
    return summaries


def raw_captured(var_dir: Path, message_id: str) -> bytes:
    """Return the message exactly as received; raise NotFound for an unknown id."""
    return _eml_path(var_dir, message_id).read_bytes()


def read_captured(var_dir: Path, message_id: str) -> CapturedMessage:
    """Parse one captured message; raise NotFound for an unknown id."""
    path = _eml_path(var_dir, message_id)
    raw = path.read_bytes()
    message = _PARSER.parsebytes(raw)
    received = datetime.strptime(message_id.split("-")[0], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    summary = next(
        (s for s in list_captured(var_dir, limit=10_000) if s.id == message_id), None
    ) or _summarize(
        message_id, message, received=received, envelope_from="", envelope_to=[], size=len(raw)
    )
    return CapturedMessage(
        summary=summary,
        headers=[(name, _text(value)) for name, value in message.items()],
        text=_body(message, "plain"),
        html=_body(message, "html"),
        attachments=[
            Attachment(
                filename=part.get_filename() or "",
                content_type=part.get_content_type(),
                size=len(part.get_payload(decode=True) or b""),
            )
            for part in message.iter_attachments()
        ],
    )


def _eml_path(var_dir: Path, message_id: str) -> Path:
    # The id is checked against its exact shape, so it can never name a path outside the mailbox.
    path = mailbox_dir(var_dir) / f"{message_id}.eml"
    if not _ID.match(message_id) or not path.is_file():
        raise NotFound(f"no captured message {message_id[:60]!r}")
    return path


def _summarize(
    message_id: str,
    message: EmailMessage,
    *,
    received: datetime,
    envelope_from: str,
    envelope_to: list[str],
    size: int,
) -> CapturedSummary:
    date_header = message["date"]
    sent = getattr(date_header, "datetime", None)
    return CapturedSummary(
        id=message_id,
        received_at=received.astimezone(UTC).isoformat(),
        envelope_from=envelope_from,
        envelope_to=list(envelope_to),
        subject=_text(message["subject"]),
        from_=_text(message["from"]),
        to=_text(message["to"]),
        date=sent.isoformat() if isinstance(sent, datetime) else _text(date_header),
        size=size,
    )


def _text(value: Any) -> str:
    """A header as decoded text; the default policy already decoded RFC 2047 words."""
    return "" if value is None else str(value)


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError):  # unknown or lying charset: show what we can
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else None
    # Lines arrive with the wire's CRLF; readers (and templates) want plain newlines.
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


class _MailboxHandler:
    """aiosmtpd handler: accept every message and store it."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        try:
            summary = await asyncio.to_thread(
                store_message,
                self.var_dir,
                raw,
                envelope_from=str(envelope.mail_from or ""),
                envelope_to=[str(r) for r in envelope.rcpt_tos],
            )
        except OSError:
            log.exception("could not store a captured message")
            return "451 Requested action aborted: cannot store the message"
        log.info("captured %s: %s", summary.id, summary.subject)
        return "250 OK captured as " + summary.id


class CaptureServer(SmtpListener):
    """The SMTP capture on ``host:port`` (port 0 = any free one), running in its own thread."""

    def __init__(self, var_dir: Path, *, host: str = CAPTURE_HOST, port: int = 2525) -> None:
        super().__init__(
            _MailboxHandler(var_dir),
            host=host,
            port=port,
            what="the SMTP capture",
            port_hint="set NURTURE_CAPTURE_SMTP_PORT to another port (0 = any free port)",
            server_hostname="nurture-capture",
        )
        self.var_dir = var_dir

    def start(self) -> None:
        """Create the mailbox folder, then listen and serve (see ``SmtpListener.start``)."""
        mailbox_dir(self.var_dir).mkdir(parents=True, exist_ok=True)
        super().start()
