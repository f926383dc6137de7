"""Tell the administrators when a mailbox provider refuses our mail on policy (5.7.x).

A DMARC, SPF or reputation refusal is about us, not the recipient: nobody is suppressed,
the domain is paused (engine/email/ratelimit.py) and a person has to look at DNS or
reputation before sending resumes in earnest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from engine.notifications.service import notify
from engine.settings import Settings

log = logging.getLogger(__name__)


def alert_policy_refusals(
    session: Session, blocked: Mapping[int, str], *, now: datetime, settings: Settings
) -> None:
    """Log the refusals and write one in-app notification to the admins (never commits)."""
    if not blocked:
        return
    lines = [f"message {message_id}: {reply}" for message_id, reply in sorted(blocked.items())]
    log.error("SMTP policy refusal (5.7.x) of %d message(s): %s", len(lines), "; ".join(lines))
    notify(
        session,
        to={"role": "admin"},
        channel="in_app",
        subject="Mail refused on policy (5.7.x): check DKIM, SPF and DMARC",
        body="The receiving server refused mail on policy; sending to its domain is "
        f"paused for {settings.smtp_policy_pause:.0f} s.\n" + "\n".join(lines[:20]),
        key=f"smtp-policy:{min(blocked)}",
        now=now,
        settings=settings,
    )
