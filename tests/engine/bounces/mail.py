"""Bounce, complaint and auto-reply messages built for tests (the corpus covers real ones)."""

from __future__ import annotations

from email.message import EmailMessage


def dsn(
    recipient: str,
    *,
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: User unknown",
    action: str = "failed",
    message_id: str = "<original@mail.nurture.example.jp>",
) -> bytes:
    """An RFC 3464 multipart/report DSN for one recipient."""
    return f"""From: MAILER-DAEMON@mx.example.jp
To: bounces+abc@bounces.nurture.example.jp
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=utf-8

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.jp

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx2.example.jp
Diagnostic-Code: {diagnostic.format(r=recipient)}

--B
Content-Type: text/rfc822-headers

Message-ID: {message_id}
To: {recipient}
Subject: test

--B--
""".encode()


def arf(recipient: str, *, message_id: str = "<original@mail.nurture.example.jp>") -> bytes:
    """An RFC 5965 abuse report carrying the original message's headers."""
    return f"""From: fbl@isp.example.jp
To: fbl@nurture.example.jp
Subject: Abuse report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="B"

--B
Content-Type: text/plain; charset=utf-8

This is an email abuse report.

--B
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ISP-FBL/1.0
Version: 1
Original-Rcpt-To: {recipient}

--B
Content-Type: text/rfc822-headers

Message-ID: {message_id}
To: {recipient}
Subject: =?utf-8?b?44K744Of44OK44O8?=

--B--
""".encode()


def japanese_text_bounce(recipient: str) -> bytes:
    """A plain-text ISO-2022-JP bounce as Japanese carriers send, without a DSN part."""
    message = EmailMessage()
    message["From"] = "MAILER-DAEMON@mail.carrier.example.ne.jp"
    message["To"] = "bounces+abc@bounces.nurture.example.jp"
    message["Subject"] = "配信不能のお知らせ"
    message.set_content(
        "以下のアドレスへメールを配信できませんでした。\n\n"
        f"<{recipient}>: host mx.carrier.example.ne.jp said: 550 Unknown user:\n"
        "    宛先のメールアドレスは存在しません (in reply to RCPT TO command)\n",
        charset="iso-2022-jp",
    )
    return message.as_bytes()


def vacation(sender: str) -> bytes:
    """A Japanese out-of-office auto-reply."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "seminar@nurture.example.jp"
    message["Subject"] = "自動応答: 不在のお知らせ"
    message["Auto-Submitted"] = "auto-replied"
    message.set_content("12月29日から1月3日まで不在です。", charset="utf-8")
    return message.as_bytes()
