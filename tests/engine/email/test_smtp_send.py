"""What each SMTP fault leaves in the database, through the send service (both databases)."""

from __future__ import annotations

from email import message_from_bytes

from sqlalchemy import select

from engine.contacts.service import ContactRow
from engine.email.alerts import alert_policy_refusals
from engine.email.compose import MailIdentity
from engine.email.ratelimit import LocalLimiter, Rates
from engine.email.send import send_messages
from engine.email.smtp import SmtpMailer
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Notification, Suppression
from tests.engine.email.scripted_smtp import Fault, FaultySmtp
from tests.engine.email.test_send import NOW, TEMPLATES, add_contact, queue, stored
from tests.engine.email.test_send import mail_settings as mail_settings

FAULTS = {
    "nobody@example.jp": Fault("rcpt", reply="550 5.1.1 <nobody@example.jp>: no such user"),
    "full@example.jp": Fault("data", reply="552 5.2.2 Mailbox full"),
    "dmarc@strict.example": Fault("data", reply="550 5.7.26 Unauthenticated mail (DMARC)"),
    "dropped@example.jp": Fault("data", action="drop"),
}
PEOPLE = [*FAULTS, "paused@held.example", "hanako.sato@example.jp"]


def send(database: Database, settings: Settings, mailer: SmtpMailer, ids: list[int]):
    with database.unit_of_work() as session:
        report = send_messages(
            session,
            ids,
            now=NOW,
            identity=MailIdentity.from_settings(settings),
            signing_keys=settings.signing_keys(),
            templates=TEMPLATES,
            mailer=mailer,
        )
        alert_policy_refusals(session, report.blocked, now=NOW, settings=settings)
        return report


def test_each_reply_leaves_its_status_and_only_a_hard_bounce_suppresses(
    database: Database, mail_settings: Settings
) -> None:
    ids = {}
    for email in PEOPLE:
        row = ContactRow(email=email, first_name="花子", last_name="佐藤", locale="ja")
        ids[email] = queue(database, add_contact(database, row))
    limiter = LocalLimiter(Rates())
    limiter.pause("held.example", 60)

    with FaultySmtp(FAULTS) as server:
        mailer = SmtpMailer(server.url, timeout=2, limiter=limiter)
        report = send(database, mail_settings, mailer, [i for i, _ in ids.values()])

        status = {
            email: (row.status, row.attempts, row.smtp_code)
            for email, (message_id, _) in ids.items()
            for row in [stored(database, message_id)]
        }
        assert status == {
            "nobody@example.jp": ("bounced", 1, "550 5.1.1"),
            "full@example.jp": ("soft_bounced", 1, "552 5.2.2"),
            "dmarc@strict.example": ("failed", 1, "550 5.7.26"),
            "dropped@example.jp": ("queued", 1, None),
            "paused@held.example": ("queued", 0, None),  # held back: no attempt spent
            "hanako.sato@example.jp": ("sent", 1, "250 2.0.0"),
        }
        assert set(report.deferred) == {ids["dropped@example.jp"][0], ids["paused@held.example"][0]}
        assert list(report.blocked) == [ids["dmarc@strict.example"][0]]
        with database.sessions() as session:
            suppressed = session.scalars(select(Suppression.email)).all()
            alerts = session.scalars(select(Notification.subject)).all()
        assert suppressed == ["nobody@example.jp"]
        assert alerts == ["Mail refused on policy (5.7.x): check DKIM, SPF and DMARC"]

        # The dropped message goes again with its Message-ID; the paused one after the pause.
        server.handler.faults.clear()
        again = send(
            database, mail_settings, SmtpMailer(server.url, timeout=2), list(report.deferred)
        )
        assert sorted(again.sent) == sorted(report.deferred)
        arrived = {r.rcpt_tos[0]: message_from_bytes(r.raw)["Message-ID"] for r in server.received}
        assert arrived["dropped@example.jp"] == ids["dropped@example.jp"][1]
        assert arrived["paused@held.example"] == ids["paused@held.example"][1]
