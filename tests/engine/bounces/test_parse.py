"""The parser on built messages: DSNs, complaints, Japanese text bounces, auto-replies."""

from __future__ import annotations

import pytest

from engine.bounces.classify import kind_of, reason_of
from engine.bounces.parse import parse_bytes, verp_uid
from tests.engine.bounces.mail import arf, dsn, japanese_text_bounce, vacation


def test_a_dsn_gives_recipient_status_diagnostic_and_a_hard_verdict() -> None:
    parsed = parse_bytes(dsn("taro.yamada@example.jp"))

    (verdict,) = parsed.verdicts
    assert verdict.recipient == "taro.yamada@example.jp"
    assert (verdict.kind, verdict.reason, verdict.status) == ("hard", "userunknown", "5.1.1")
    assert verdict.action == "failed" and verdict.remote_mta == "mx2.example.jp"
    assert "User unknown" in verdict.diagnostic
    assert parsed.original_message_ids == ["<original@mail.nurture.example.jp>"]


def test_crlf_and_lf_copies_parse_the_same() -> None:
    raw = dsn("taro.yamada@example.jp")
    assert parse_bytes(raw.replace(b"\n", b"\r\n")) == parse_bytes(raw)


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind", "reason"),
    [
        ("5.2.2", "smtp; 552 5.2.2 Mailbox full", "soft", "mailboxfull"),
        ("4.4.7", "smtp; 451 4.4.7 delivery time expired", "soft", "expired"),
        ("5.7.1", "smtp; 550 5.7.1 Message rejected as spam", "soft", "spamdetected"),
        ("5.1.2", "smtp; 550 5.1.2 Host unknown", "hard", "hostunknown"),
        ("4.2.2", "smtp; 452 4.2.2 over quota", "soft", "mailboxfull"),
        ("5.0.0", "smtp; 550 #5.1.0 Address rejected.", "hard", "userunknown"),
        ("5.1.1", "smtp; 550 5.1.1 メールボックスが一杯です", "soft", "mailboxfull"),
    ],
)
def test_status_and_phrases_decide_hard_or_soft(
    status: str, diagnostic: str, kind: str, reason: str
) -> None:
    (verdict,) = parse_bytes(dsn("a@example.jp", status=status, diagnostic=diagnostic)).verdicts
    assert (verdict.kind, verdict.reason) == (kind, reason)


def test_a_delayed_dsn_is_soft_and_a_delivered_one_is_no_bounce() -> None:
    (delayed,) = parse_bytes(dsn("a@example.jp", status="4.0.0", action="delayed")).verdicts
    (delivered,) = parse_bytes(
        dsn("a@example.jp", status="2.0.0", action="delivered", diagnostic="smtp; 250 OK")
    ).verdicts
    assert (delayed.kind, delayed.reason) == ("soft", "expired")
    assert delivered.kind == "not_bounce"


def test_a_feedback_report_is_a_complaint_with_the_original_message_id() -> None:
    parsed = parse_bytes(arf("hanako.sato@example.jp"))

    (verdict,) = parsed.verdicts
    assert (verdict.kind, verdict.recipient) == ("complaint", "hanako.sato@example.jp")
    assert verdict.feedback_type == "abuse"
    assert parsed.original_message_ids == ["<original@mail.nurture.example.jp>"]


def test_a_japanese_carrier_text_bounce_is_read_in_iso_2022_jp() -> None:
    (verdict,) = parse_bytes(japanese_text_bounce("jiro@docomo.example.ne.jp")).verdicts
    assert verdict.recipient == "jiro@docomo.example.ne.jp"
    assert (verdict.kind, verdict.reason) == ("hard", "userunknown")
    assert "存在しません" in verdict.diagnostic


def test_user_unknown_without_an_addressing_status_or_rcpt_refusal_is_a_filter() -> None:
    (after_data,) = parse_bytes(
        dsn("a@example.jp", status="5.0.0", diagnostic="smtp; 550 User unknown (after DATA)")
    ).verdicts
    (at_rcpt,) = parse_bytes(
        dsn(
            "a@example.jp",
            status="5.0.0",
            diagnostic="smtp; 550 User unknown (in reply to RCPT TO command)",
        )
    ).verdicts
    assert (after_data.kind, after_data.reason) == ("soft", "filtered")
    assert (at_rcpt.kind, at_rcpt.reason) == ("hard", "userunknown")


def test_a_japanese_vacation_reply_is_an_auto_reply_not_a_bounce() -> None:
    (verdict,) = parse_bytes(vacation("taro.yamada@example.jp")).verdicts
    assert (verdict.kind, verdict.recipient) == ("auto_reply", "taro.yamada@example.jp")


def test_ordinary_mail_has_no_verdict() -> None:
    raw = b"From: a@example.jp\nTo: b@example.jp\nSubject: hello\n\nhi\n"
    assert parse_bytes(raw).verdicts == []


def test_verp_uid_is_read_from_the_bounce_address_only() -> None:
    assert verp_uid("<bounces+Ab3_x-9@bounces.example.jp>") == "Ab3_x-9"
    assert verp_uid("someone@example.jp") is None


def test_temporary_reply_codes_never_make_a_hard_bounce() -> None:
    reason = reason_of("4.1.1", "451 4.1.1 user unknown, try later")
    assert (reason, kind_of(reason, "4.1.1", "451")) == ("userunknown", "soft")
