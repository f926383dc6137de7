"""Sending right now: recent send counts and SMTP errors, for the health page and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.models import Message


@dataclass(frozen=True, slots=True)
class SendingNow:
    """Messages sent in the last 5 and 60 minutes, and the last hour's SMTP errors by code."""

    sent_5m: int
    sent_60m: int
    smtp_errors_60m: dict[str, int]


def sending_now(session: Session, *, now: datetime) -> SendingNow:
    """Count recent sends (by sent_at), and messages queued in the last hour whose last SMTP
    reply was not 2xx (deferred, bounced, failed) by that reply's code."""
    hour, five = now - timedelta(hours=1), now - timedelta(minutes=5)
    sent_5m, sent_60m = session.execute(
        select(func.count().filter(Message.sent_at >= five), func.count()).where(
            Message.sent_at >= hour
        )
    ).one()
    code = Message.smtp_code
    codes = session.execute(
        select(code, func.count())
        .where(
            Message.status != "sent",
            Message.smtp_code.is_not(None),
            ~Message.smtp_code.like("2%"),
            Message.queued_at >= hour,
        )
        .group_by(code)
    )
    return SendingNow(
        sent_5m=sent_5m or 0,
        sent_60m=sent_60m or 0,
        smtp_errors_60m={str(code): int(count) for code, count in codes},
    )
