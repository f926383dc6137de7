"""Vendor formats and well-known replies: SES JSON, au/docomo notices, Sendmail transcripts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.message import EmailMessage

import pytest

from engine.bounces.agreement import Agreement, compare
from engine.bounces.parse import parse_bytes
from engine.bounces.ses import read_notification
from tests.engine.bounces.mail import dsn


def _sns_mail(event: Mapping[str, object], *, split_at: int | None = None) -> bytes:
    """An SNS email notification wrapping an SES event, optionally split the Sendmail way."""
    body = json.dumps({"Type": "Notification", "Message": json.dumps(event, ensure_ascii=False)})
    if split_at is not None:
        body = body[:split_at] + "!\n " + body[split_at:]
    return (
        "From: SES <no-reply@sns.amazonaws.com>\n"
        "To: bounces@nurture.example.jp\n"
        "Subject: AWS Notification Message\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\n\n"
        f"{body}\n\n--\nIf you wish to stop receiving notifications from this topic, ...\n"
    ).encode()


def test_an_ses_bounce_notification_is_read_even_when_sendmail_split_its_line() -> None:
    event = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bouncedRecipients": [
                {
                    "emailAddress": "Yamada.Taro@example.jp",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "reportingMTA": "dsn; a27-33.smtp-out.ap-northeast-1.amazonses.com",
        },
        "mail": {"commonHeaders": {"subject": "山田太郎様へのご案内"}},
    }

    (verdict,) = parse_bytes(_sns_mail(event, split_at=60)).verdicts

    assert verdict.recipient == "yamada.taro@example.jp"
    assert (verdict.kind, verdict.reason, verdict.status) == ("hard", "userunknown", "5.1.1")
    assert verdict.remote_mta == "a27-33.smtp-out.ap-northeast-1.amazonses.com"


def test_ses_delivery_and_complaint_notifications_are_no_bounce_and_complaint() -> None:
    delivery = {
        "notificationType": "Delivery",
        "delivery": {"recipients": ["sato.hanako@example.jp"], "smtpResponse": "250 2.6.0 OK"},
    }
    complaint = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "suzuki.ichiro@example.jp"}],
            "complaintFeedbackType": "abuse",
        },
    }

    (delivered,) = parse_bytes(_sns_mail(delivery)).verdicts
    (complained,) = parse_bytes(_sns_mail(complaint)).verdicts

    assert (delivered.recipient, delivered.kind, delivered.status) == (
        "sato.hanako@example.jp",
        "not_bounce",
        "2.6.0",
    )
    assert (complained.recipient, complained.kind) == ("suzuki.ichiro@example.jp", "complaint")
    assert complained.feedback_type == "abuse"


def test_text_that_is_not_an_ses_notification_is_left_alone() -> None:
    assert read_notification("お世話になっております。山田です。") is None
    assert read_notification('{"notificationType": ') is None


def _au_notice(recipient: str, *, body_charset: str) -> bytes:
    """au's notice: Japanese text, the cause in English, the refused reply; a DSN without code."""
    text = (
        "次のあて先へのメッセージはエラーのため送信できませんでした。\n\n"
        "送信先メールアドレスが見つかりませんでした。\n\n"
        "The user(s) account is disabled.\n\n"
        f"<{recipient}>: 550 user unknown (in reply to RCPT TO command)\n"
    )
    encoded = text.encode(body_charset)
    return (
        b"From: Mail Administrator <Postmaster@ezweb.ne.jp>\n"
        b"To: bounces@nurture.example.jp\n"
        b"Subject: Mail System Error - Returned Mail\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain; charset=iso-2022-jp\n\n"
        + encoded
        + b"\n--B\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; lsean.ezweb.ne.jp\n\n"
        b"Final-Recipient: rfc822; " + recipient.encode() + b"\nAction: failed\nStatus: 5.0.0\n\n"
        b"--B--\n"
    )


@pytest.mark.parametrize("body_charset", ["iso-2022-jp", "euc-jp"])
def test_an_au_notice_says_the_account_is_disabled_which_is_soft(body_charset: str) -> None:
    """au labels its bodies ISO-2022-JP, but some are EUC-JP: both must decode."""
    (verdict,) = parse_bytes(
        _au_notice("kobayashi.yui@ezweb.ne.jp", body_charset=body_charset)
    ).verdicts

    assert verdict.recipient == "kobayashi.yui@ezweb.ne.jp"
    assert (verdict.kind, verdict.reason) == ("soft", "suspend")


def test_the_same_reply_from_another_host_is_still_an_unknown_user() -> None:
    raw = _au_notice("kobayashi.yui@ezweb.ne.jp", body_charset="iso-2022-jp")
    elsewhere = raw.replace(b"ezweb.ne.jp", b"mail.example.jp")

    (verdict,) = parse_bytes(elsewhere).verdicts

    assert (verdict.kind, verdict.reason) == ("hard", "userunknown")


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind", "reason"),
    [
        # au refuses filtered mail with "user unknown" naming no address, even under a relay's
        # addressing status (Exchange Online's 5.1.351)
        (
            "5.1.351",
            "smtp; 550 5.1.351 Remote server returned unknown recipient or mailbox "
            "unavailable -> 550 : User unknown",
            "soft",
            "filtered",
        ),
        ("5.0.0", "smtp; 550 <{r}>: User unknown", "hard", "userunknown"),
        ("", "smtp; 550 {r}... No such user", "hard", "userunknown"),
        ("", "smtp; 550 User unknown", "soft", "filtered"),
        # Exchange Online's directory-based edge blocking
        (
            "5.4.1",
            "smtp; 550 5.4.1 [{r}]: Recipient address rejected: Access denied",
            "hard",
            "userunknown",
        ),
        (
            "5.1.1",
            "smtp; 550 5.1.1 user unknown; Google tried to deliver your message, but it was "
            "rejected by the recipient domain",
            "hard",
            "userunknown",
        ),
    ],
)
def test_who_the_reply_names_decides_unknown_user_or_filter(
    status: str, diagnostic: str, kind: str, reason: str
) -> None:
    (verdict,) = parse_bytes(
        dsn("takahashi.ken@ezweb.ne.jp", status=status, diagnostic=diagnostic)
    ).verdicts
    assert (verdict.kind, verdict.reason) == (kind, reason)


def _sendmail_transcript(recipient: str, *, status: str) -> bytes:
    return f"""From: Mail Delivery Subsystem <MAILER-DAEMON@mx.nurture.example.jp>
To: bounces@nurture.example.jp
Subject: Returned mail: see transcript for details
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

   ----- The following addresses had permanent fatal errors -----
<{recipient}>
    (reason: 550 5.0.0 <{recipient}>... User unknown)

   ----- Transcript of session follows -----
... while talking to mx.example.jp.:
>>> DATA
<<< 550 5.0.0 <{recipient}>... User unknown
<<< 503 5.0.0 Need RCPT (recipient)

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.nurture.example.jp

Final-Recipient: RFC822; {recipient}
Action: failed
Status: {status}
Diagnostic-Code: SMTP; 550 5.0.0 <{recipient}>... User unknown

--B--
""".encode()


def test_a_refusal_quoted_under_data_is_a_filter_unless_the_status_says_addressing() -> None:
    (under_data,) = parse_bytes(_sendmail_transcript("ito.mai@example.jp", status="5.0.0")).verdicts
    (addressing,) = parse_bytes(_sendmail_transcript("ito.mai@example.jp", status="5.1.1")).verdicts

    assert (under_data.kind, under_data.reason) == ("soft", "filtered")
    assert (addressing.kind, addressing.reason) == ("hard", "userunknown")


def test_a_lost_boundary_and_an_echoed_rcpt_to_still_give_the_recipient() -> None:
    """Verizon writes the boundary parameter on an unfolded line, so the part stays unsplit."""
    raw = b"""From: post_master@vtext.example.com
To: bounces@nurture.example.jp
Subject: Re:Nyaan
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="OUT"

--OUT
Content-Type: multipart/alternative;
boundary="IN"

--IN
Content-Type: text/plain; charset=us-ascii

Error: Invalid user address

Error message below:
550 - Requested action not taken: no such user here

Message details:
  MAIL FROM: bounces@nurture.example.jp
  RCPT TO: nakamura.sho@vtext.example.com
--IN--
--OUT--
"""
    (verdict,) = parse_bytes(raw).verdicts

    assert verdict.recipient == "nakamura.sho@vtext.example.com"
    assert verdict.kind == "hard"


def test_a_hotmail_complaint_without_arf_names_the_original_recipient() -> None:
    message = EmailMessage()
    message["From"] = "staff@hotmail.com"
    message["To"] = "abuse@nurture.example.jp"
    message["Subject"] = "complaint about message from 192.0.2.1"
    original = EmailMessage()
    original["To"] = "kimura.aoi@example.jp"
    original["Subject"] = "木村様へのセミナーのご案内"
    original.set_content("ご案内です。")
    message.add_attachment(original)

    (verdict,) = parse_bytes(message.as_bytes()).verdicts

    assert (verdict.recipient, verdict.kind, verdict.feedback_type) == (
        "kimura.aoi@example.jp",
        "complaint",
        "abuse",
    )


def test_a_quoted_local_part_keeps_its_quotes() -> None:
    (verdict,) = parse_bytes(
        dsn('"yamada..taro"@example.jp', diagnostic="smtp; 550 5.1.1 User unknown")
    ).verdicts
    assert verdict.recipient == '"yamada..taro"@example.jp'


def test_quoted_headers_in_a_text_bounce_name_no_extra_recipient() -> None:
    raw = """From: MAILER-DAEMON@mx.example.jp
To: bounces@nurture.example.jp
Subject: Undelivered Mail
Content-Type: text/plain; charset=utf-8

This message was created automatically by mail delivery software.

watanabe.rin@example.co.jp Invalid Address, ERROR_CODE :550, ERROR_CODE :5.1.1 User Unknown

Message-ID:<14a3e1b4b5a.10b1a4c5610175@nurture.example.jp>
From:渡辺 <seminar@nurture.example.jp>
""".encode()

    verdicts = parse_bytes(raw).verdicts

    assert [v.recipient for v in verdicts] == ["watanabe.rin@example.co.jp"]


def test_the_agreement_counts_extra_verdicts_and_does_not_score_unlabelled_messages() -> None:
    agreement = Agreement()
    two = dsn("kato.yu@example.jp").replace(
        b"--B\nContent-Type: text/rfc822-headers",
        b"--B\nContent-Type: message/delivery-status\n\n"
        b"Final-Recipient: rfc822; mori.ken@example.jp\nAction: failed\nStatus: 5.1.1\n\n"
        b"--B\nContent-Type: text/rfc822-headers",
    )
    label = {"recipient": "kato.yu@example.jp", "softbounce": 0, "reason": "userunknown"}

    compare("two.eml", two, [label], agreement)
    compare("unlabelled.eml", dsn("ota.mei@example.jp"), [], agreement)

    assert (agreement.results, agreement.recipients_equal, agreement.kind_equal) == (1, 1, 1)
    assert agreement.extras == 1
    assert (agreement.empty_messages, agreement.empty_equal) == (1, 0)
    assert agreement.bounces == 1  # the unlabelled message adds nothing to the rates
    assert any("mori.ken@example.jp" in line for line in agreement.unscored)


@pytest.mark.parametrize("body_charset", ["iso-2022-jp", "euc-jp"])
def test_a_carrier_bounce_labelled_iso_2022_jp_decodes_whatever_it_holds(
    body_charset: str,
) -> None:
    text = (
        "以下のアドレスへメールを配信できませんでした。\n\n"
        "<yoshida.saki@docomo.ne.jp>: 550 Unknown user:\n"
        "    宛先のメールアドレスは存在しません (in reply to RCPT TO command)\n"
    )
    raw = (
        b"From: MAILER-DAEMON@mfsmax.docomo.ne.jp\n"
        b"To: bounces@nurture.example.jp\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=iso-2022-jp\n\n" + text.encode(body_charset)
    )

    (verdict,) = parse_bytes(raw).verdicts

    assert verdict.recipient == "yoshida.saki@docomo.ne.jp"
    assert "宛先のメールアドレスは存在しません" in verdict.diagnostic
    assert (verdict.kind, verdict.reason) == ("hard", "userunknown")
