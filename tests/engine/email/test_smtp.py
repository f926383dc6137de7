"""The SMTP transport: what replies mean, how the URL is read, and logging in (real aiosmtpd)."""

from __future__ import annotations

import pytest

from engine.email.smtp import Outgoing, SmtpMailer, SmtpServer, classify
from engine.errors import ConfigurationError
from tests.engine.email.smtp_server import Script
from tests.engine.email.smtp_server import SmtpServer as LoopbackSmtp

MESSAGE = (
    b"From: =?utf-8?b?5LqL5YuZ5bGA?= <jimukyoku@example.jp>\r\n"
    b"To: taro.yamada@example.jp\r\nSubject: test\r\n\r\nbody\r\n"
)


@pytest.mark.parametrize(
    ("code", "reply", "stage", "verdict", "smtp_code"),
    [
        (250, "2.0.0 OK queued", "data", "sent", "250 2.0.0"),
        (451, "4.7.1 Greylisted", "rcpt", "deferred", "451 4.7.1"),
        (421, "Service not available", "mail", "deferred", "421"),
        (
            550,
            "5.1.1 <taro@example.jp>: Recipient address rejected",
            "rcpt",
            "bounced",
            "550 5.1.1",
        ),
        (550, "5.1.10 Recipient address rejected: null MX", "rcpt", "bounced", "550 5.1.10"),
        (553, "5.1.8 Sender address rejected", "mail", "failed", "553 5.1.8"),
        (550, "User unknown", "rcpt", "failed", "550"),
        (554, "5.7.1 Message rejected as spam", "data", "blocked", "554 5.7.1"),
        (
            550,
            "5.7.26 Unauthenticated email is not accepted (DMARC)",
            "data",
            "blocked",
            "550 5.7.26",
        ),
        (550, "5.7.1 Sender not authorized", "mail", "blocked", "550 5.7.1"),
        (552, "5.2.2 Mailbox full", "data", "soft_bounced", "552 5.2.2"),
        (552, "5.2.2 Mailbox full", "rcpt", "soft_bounced", "552 5.2.2"),
        (552, "5.3.4 Message too big", "data", "failed", "552 5.3.4"),
    ],
)
def test_replies_are_classified(code, reply, stage, verdict, smtp_code) -> None:
    outcome = classify(code, reply, stage=stage)
    assert (outcome.verdict, outcome.smtp_code) == (verdict, smtp_code)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.jp", ("mail.example.jp", 25, False, None, None, None)),
        (
            "smtp://mail.example.jp:2525?starttls=require",
            ("mail.example.jp", 2525, False, True, None, None),
        ),
        (
            "smtp://relay.example.jp?starttls=off",
            ("relay.example.jp", 25, False, False, None, None),
        ),
        (
            "smtps://user%40example.jp:p%40ss@smtp.example.jp",
            ("smtp.example.jp", 465, True, None, "user@example.jp", "p@ss"),
        ),
    ],
)
def test_the_smtp_url_is_read(url: str, expected: tuple[object, ...]) -> None:
    server = SmtpServer.from_url(url)
    assert (
        server.hostname,
        server.port,
        server.use_tls,
        server.start_tls,
        server.username,
        server.password,
    ) == expected


@pytest.mark.parametrize(
    "url", ["http://mail.example.jp", "smtp://", "smtp://mail.example.jp?starttls=maybe"]
)
def test_a_bad_smtp_url_is_refused_by_name(url: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        SmtpServer.from_url(url)
    assert "NURTURE_SMTP_URL" in raised.value.message


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # loopback only
def test_the_mailer_logs_in_with_the_url_credentials() -> None:
    with LoopbackSmtp(login=("nurture", "s3cret パス")) as server:
        good = SmtpMailer(f"smtp://nurture:s3cret%20%E3%83%91%E3%82%B9@127.0.0.1:{server.port}")
        bad = SmtpMailer(f"smtp://nurture:wrong@127.0.0.1:{server.port}")
        item = Outgoing("bounces+abc@example.jp", "taro.yamada@example.jp", MESSAGE)

        (sent,) = good.deliver([item])
        (refused,) = bad.deliver([item])

    assert sent.verdict == "sent"
    assert refused.verdict == "deferred" and "login to 127.0.0.1" in refused.reply
    assert len(server.received) == 1


def test_a_dropped_recipient_does_not_stop_the_batch() -> None:
    with LoopbackSmtp(Script(rcpt=["550 5.1.1 no such user"])) as server:
        items = [
            Outgoing("bounces+a@example.jp", f"{name}@example.jp", MESSAGE)
            for name in ("nobody", "hanako.sato")
        ]
        outcomes = SmtpMailer(server.url, connections=1).deliver(items)
    assert [o.verdict for o in outcomes] == ["bounced", "sent"]
    assert server.received[0].rcpt_tos == ["hanako.sato@example.jp"]


@pytest.mark.parametrize(
    "body",
    [
        b"body\r\n.\r\n..two dots\r\n. a dot and a blank\r\n",  # CRLF: sent as it is
        b"bare\nline ends\r\n.dot after a bare LF\n",  # not CRLF: aiosmtplib normalises
    ],
    ids=["dots", "bare-lf"],
)
def test_lines_starting_with_a_dot_arrive_as_written(body: bytes) -> None:
    """A line of "." must not end the message early, nor lose its dot (RFC 5321 4.5.2)."""
    message = MESSAGE.split(b"\r\n\r\n")[0] + b"\r\n\r\n" + body
    with LoopbackSmtp() as server:
        (outcome,) = SmtpMailer(server.url).deliver(
            [Outgoing("bounces+a@example.jp", "taro.yamada@example.jp", message)]
        )
    canonical = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert outcome.verdict == "sent"
    assert server.received[0].raw.split(b"\r\n\r\n", 1)[1] == canonical
