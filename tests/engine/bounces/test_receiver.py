"""The SMTP bounce receiver on loopback: a DSN sent with aiosmtplib lands and is applied."""

from __future__ import annotations

import asyncio

import aiosmtplib
import pytest
from sqlalchemy import select

from engine.bounces.receiver import BounceHandler, BounceReceiver, accepts
from engine.store.db import Database
from engine.store.models import Bounce, InboundMail, Message
from tests.engine.bounces.mail import dsn
from tests.engine.bounces.test_service import NOW, YAMADA, sent_message

DOMAIN = "bounces.nurture.example.jp"


def test_only_verp_and_feedback_loop_addresses_are_accepted() -> None:
    fbl = ["fbl@nurture.example.jp"]
    assert accepts(f"<bounces+abc123@{DOMAIN}>", bounce_domain=DOMAIN, fbl_addresses=fbl)
    assert accepts("FBL@nurture.example.jp", bounce_domain=DOMAIN, fbl_addresses=fbl)
    assert not accepts("bounces+abc@other.example", bounce_domain=DOMAIN, fbl_addresses=fbl)
    assert not accepts(f"ceo@{DOMAIN}", bounce_domain=DOMAIN, fbl_addresses=fbl)


def test_a_dsn_over_smtp_is_stored_and_applied_and_strangers_get_550(
    database: Database,
) -> None:
    _, message_id, uid, _ = sent_message(database)
    handler = BounceHandler(database, bounce_domain=DOMAIN, clock=lambda: NOW)

    with BounceReceiver(handler, port=0) as receiver:

        async def deliver() -> tuple[object, Exception | None]:
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=receiver.port) as client:
                # a bounce comes from the null sender, MAIL FROM:<>
                reply = await client.sendmail("", [f"bounces+{uid}@{DOMAIN}"], dsn(YAMADA.email))
            try:
                await aiosmtplib.send(
                    b"Subject: hi\n\nhello\n",
                    sender="spammer@example.com",
                    recipients=[f"ceo@{DOMAIN}"],
                    hostname="127.0.0.1",
                    port=receiver.port,
                )
            except aiosmtplib.SMTPRecipientsRefused as refused:
                return reply, refused
            return reply, None

        reply, refused = asyncio.run(deliver())

    assert reply == ({}, "OK 1 verdict(s)")
    assert isinstance(refused, aiosmtplib.SMTPRecipientsRefused)
    assert refused.recipients[0].code == 550
    with database.sessions() as session:
        inbound = session.scalars(select(InboundMail)).one()
        assert inbound.rcpt_to == f"bounces+{uid}@{DOMAIN}" and inbound.processed_at == NOW
        assert session.scalars(select(Bounce.message_id)).all() == [message_id]
        assert session.scalar(select(Message.status).where(Message.id == message_id)) == "bounced"


@pytest.mark.parametrize("port", [0])
def test_the_receiver_reports_its_port(database: Database, port: int) -> None:
    handler = BounceHandler(database, bounce_domain=DOMAIN)
    receiver = BounceReceiver(handler, port=port)
    with pytest.raises(RuntimeError):
        _ = receiver.port
    with receiver:
        assert receiver.port > 0
