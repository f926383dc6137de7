"""The ``email.send`` actor: send queued messages and mark their outbox row done, in one unit of work."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from dramatiq.errors import Retry
from dramatiq.middleware import CurrentMessage

from engine.email.alerts import alert_policy_refusals
from engine.email.compose import MailIdentity
from engine.email.send import send_messages
from engine.email.smtp import SmtpMailer
from engine.email.templates import TemplateStore
from engine.errors import ConfigurationError
from engine.runtime import outbox
from workers.broker import actor
from workers.runtime import current

log = logging.getLogger(__name__)

#: Queue of outgoing journey mail, apart from journey work so a slow SMTP server cannot hold it.
EMAIL_QUEUE = "email"
#: First wait before a deferred message is tried again (ms); it doubles with each retry.
RETRY_AFTER_MS = 30_000
#: The longest wait between two tries of a deferred message (ms).
MAX_RETRY_AFTER_MS = 30 * 60 * 1000


@cache
def templates_in(folder: Path) -> TemplateStore:
    """The process's template store of a folder: compiled templates live as long as the process."""
    return TemplateStore(folder)


@actor(queue_name=EMAIL_QUEUE, actor_name="email.send", max_retries=20)
def send_email(message_ids: list[int], outbox_id: int | None = None) -> None:
    """Send these queued messages; a message the server deferred is retried, with its Message-ID."""
    runtime = current()
    now = runtime.clock()
    settings = runtime.settings
    try:
        identity = MailIdentity.from_settings(settings)
        mailer = SmtpMailer.from_settings(
            settings, runtime.smtp_url, default_domain=identity.sender.email.rpartition("@")[2]
        )
        keys = settings.signing_keys()
    except ConfigurationError as error:
        # Retrying at once cannot help; the outbox row stays pending and comes back after
        # its lease, by when the operator may have fixed the settings.
        log.error("email.send cannot send messages %s: %s", message_ids, error.message)
        return
    with runtime.database.unit_of_work() as session:
        report = send_messages(
            session,
            message_ids,
            now=now,
            identity=identity,
            signing_keys=keys,
            templates=templates_in(settings.templates_dir),
            mailer=mailer,
            journeys=runtime.journeys,
        )
        alert_policy_refusals(session, report.blocked, now=now, settings=settings)
        if report.finished:
            outbox.mark_done(session, outbox_id, now=now)
    if not report.finished:  # after the commit: attempts and other messages' statuses stay
        reasons = "; ".join(f"message {i}: {r}" for i, r in report.deferred.items())
        raise Retry(f"deferred, will retry: {reasons}", delay=_retry_delay())


def _retry_delay() -> int:
    message = CurrentMessage.get_current_message()
    retries = int(message.options.get("retries", 0)) if message is not None else 0
    return int(min(RETRY_AFTER_MS * 2**retries, MAX_RETRY_AFTER_MS))
