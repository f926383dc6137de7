"""SMTP faults against a real misbehaving server: each ends in a final state or a retry."""

from __future__ import annotations

import time

from engine.email import pool
from engine.email.ratelimit import LocalLimiter, Rates
from engine.email.smtp import Outgoing, SmtpMailer
from tests.engine.email.scripted_smtp import Fault, FaultySmtp

MESSAGE = (
    "From: =?utf-8?b?5LqL5YuZ5bGA?= <jimukyoku@example.jp>\r\n"
    "To: taro.yamada@example.jp\r\nSubject: =?utf-8?b?44GU5qGI5YaF?=\r\n"
    "Message-ID: <{uid}@mail.example.jp>\r\n\r\n本文\r\n"
)
FAULTS = {
    "closing@example.jp": Fault("rcpt", reply="421 4.4.2 Closing connection"),
    "greylist@example.jp": Fault("rcpt", reply="451 4.7.1 Greylisted, try later"),
    "nobody@example.jp": Fault("rcpt", reply="550 5.1.1 No such user"),
    "full@example.jp": Fault("data", reply="552 5.2.2 Mailbox full"),
    "dmarc@strict.example": Fault("data", reply="550 5.7.26 Unauthenticated mail (DMARC)"),
    "dropped@example.jp": Fault("data", action="drop"),
    "stalled@example.jp": Fault("data", action="stall"),
}
STALL = 6.0
EXPECTED = {
    "closing@example.jp": ("deferred", "421 4.4.2"),
    "greylist@example.jp": ("deferred", "451 4.7.1"),
    "nobody@example.jp": ("bounced", "550 5.1.1"),
    "full@example.jp": ("soft_bounced", "552 5.2.2"),
    "dmarc@strict.example": ("blocked", "550 5.7.26"),
    "dropped@example.jp": ("deferred", None),
    "stalled@example.jp": ("deferred", None),
    "hanako.sato@example.jp": ("sent", "250 2.0.0"),
    "jiro.suzuki@example.jp": ("sent", "250 2.0.0"),
}


def item(recipient: str) -> Outgoing:
    uid = recipient.split("@")[0]
    return Outgoing(f"bounces+{uid}@example.jp", recipient, MESSAGE.format(uid=uid).encode())


def test_every_fault_ends_in_its_outcome_and_retries_resend_the_same_message() -> None:
    limiter = LocalLimiter(Rates())
    # Timeouts leave room for a busy machine; the stall outlasts them by far.
    with FaultySmtp(FAULTS, stall_seconds=STALL) as server:
        mailer = SmtpMailer(
            server.url, timeout=2.0, data_timeout=1.0, connections=3, limiter=limiter
        )
        batch = [item(r) for r in EXPECTED]
        started = time.monotonic()
        outcomes = mailer.deliver(batch)
        took = time.monotonic() - started

        got = {i.recipient: (o.verdict, o.smtp_code) for i, o in zip(batch, outcomes, strict=True)}
        replies = {i.recipient: o.reply for i, o in zip(batch, outcomes, strict=True)}
        assert got == EXPECTED, replies
        assert took < STALL  # the stall was cut off by the DATA timeout, nothing waited on it
        assert sorted(r.rcpt_tos[0] for r in server.received) == [
            "hanako.sato@example.jp",
            "jiro.suzuki@example.jp",
        ]
        # The policy refusal paused its domain: the next message there is held, not tried.
        again = mailer.deliver([item("other@strict.example")])
        assert [o.verdict for o in again] == ["held"]
        assert "paused" in again[0].reply
        assert "other@strict.example" not in server.handler.data_seen

        # The deferred ones, tried again once the server behaves, go out unchanged.
        server.handler.faults.clear()
        retry = [i for i, o in zip(batch, outcomes, strict=True) if o.verdict == "deferred"]
        assert [o.verdict for o in mailer.deliver(retry)] == ["sent"] * 4
        resent = {r.rcpt_tos[0]: r.raw for r in server.received[2:]}
        for original in retry:
            assert resent[original.recipient].replace(b"\r\n", b"\n") == original.data.replace(
                b"\r\n", b"\n"
            )
            assert (
                f"Message-ID: <{original.recipient.split('@')[0]}@".encode()
                in resent[original.recipient]
            )


def test_connections_are_kept_between_batches_and_used_together() -> None:
    with FaultySmtp({}) as server:
        mailer = SmtpMailer(server.url, timeout=2, connections=2)
        first = mailer.deliver([item(f"user{n}@example.jp") for n in range(6)])
        second = mailer.deliver([item(f"user{n}@example.jp") for n in range(6, 10)])
        connections = pool.pool_for(mailer.server, size=2, timeouts=mailer.timeouts)

        assert [o.verdict for o in first + second] == ["sent"] * 10
        assert len(server.handler.peers) == 2  # both used, and reused by the second batch
        assert connections.idle == 2
        pool.close_all()


def test_a_connection_the_server_closed_while_idle_is_replaced_without_losing_the_message() -> None:
    with FaultySmtp({}) as server:
        mailer = SmtpMailer(server.url, timeout=2, connections=1)
        assert [o.verdict for o in mailer.deliver([item("a@example.jp")])] == ["sent"]
    # The same port again, as after a server restart: the pooled connection is dead.
    with FaultySmtp({}, port=server.port) as again:
        outcomes = mailer.deliver([item("b@example.jp")])
        assert [o.verdict for o in outcomes] == ["sent"]
        assert [r.rcpt_tos[0] for r in again.received] == ["b@example.jp"]


def test_a_domain_rate_holds_back_what_does_not_fit_and_lets_other_domains_through() -> None:
    limiter = LocalLimiter(Rates(0, {"example.jp": 3}))
    with FaultySmtp({}) as server:
        mailer = SmtpMailer(server.url, timeout=2, limiter=limiter, max_rate_wait=0)
        batch = [item(f"u{n}@example.jp") for n in range(5)] + [item("x@example.com")]
        outcomes = mailer.deliver(batch)

    verdicts = [o.verdict for o in outcomes]
    assert sorted(verdicts[:5]) == ["held", "held", "sent", "sent", "sent"]
    assert verdicts[5] == "sent"
    assert len(server.received) == 4


def test_an_unreachable_server_defers_quickly() -> None:
    with FaultySmtp({}) as gone:
        pass
    mailer = SmtpMailer(gone.url, timeout=0.5)
    outcomes = mailer.deliver([item("a@example.jp"), item("b@example.jp")])
    assert [o.verdict for o in outcomes] == ["deferred", "deferred"]
    assert "cannot reach 127.0.0.1" in outcomes[0].reply


def test_closing_the_pools_quits_their_connections_and_the_next_batch_opens_new_ones() -> None:
    with FaultySmtp({}) as server:
        mailer = SmtpMailer(server.url, timeout=2, connections=2)
        assert [o.verdict for o in mailer.deliver([item("yamada@example.jp")])] == ["sent"]
        first = set(server.handler.peers)

        pool.close_all()
        pool.close_all()  # nothing left: a no-op
        fresh = pool.pool_for(mailer.server, size=2, timeouts=mailer.timeouts)
        assert fresh.idle == 0
        assert [o.verdict for o in mailer.deliver([item("sato@example.jp")])] == ["sent"]
        assert server.handler.peers - first  # a new connection, not the closed one
        pool.close_all()
