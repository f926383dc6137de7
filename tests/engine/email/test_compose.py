"""Composed messages: the bytes built from encoded parts parse as the ``EmailMessage`` would.

The reference below is how a message is built with the stdlib's ``EmailMessage``; the fast
composer must give a parsed message with the same headers (decoded), the same structure and
the same decoded bodies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from engine.email.compose import MailIdentity, compose
from engine.email.templates import RenderedEmail, Sender

IDENTITY = MailIdentity(
    sender=Sender("info@nurture.example.jp", "株式会社ナーチャー 事務局"),
    postal_address="〒100-0001 東京都千代田区千代田1-1",
    bounce_domain="bounces.nurture.example.jp",
    list_domain="nurture.example.jp",
    public_url="https://mail.nurture.example.jp",
)
DATE = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
UNSUBSCRIBE = "https://mail.nurture.example.jp/u/TOKEN"
LONG_TEXT = (
    "山田 太郎 様\r\n\r\n"
    + "本日はセミナーにご参加いただき、誠にありがとうございました。" * 40
    + "\r\n"
)
LONG_HTML = (
    '<html><body><p style="margin:0">'
    + "ご参加ありがとうございました。" * 80
    + "</p></body></html>"
)

CASES = {
    "japanese": (
        RenderedEmail(
            "山田 太郎 様、セミナーへのご参加ありがとうございました", "", "<p>本日は</p>", "本日は"
        ),
        Sender("taro.yamada@example.jp", "山田 太郎"),
        None,
        "seminar_followup",
    ),
    "long bodies and subject, IDN recipient": (
        RenderedEmail(
            "【重要】" + "秋の新機能のご案内と先行公開のお知らせ" * 5, "", LONG_HTML, LONG_TEXT
        ),
        Sender("hanako@例え.jp", "佐藤 花子"),
        "営業部 サポート窓口 <support@nurture.example.jp>",
        None,
    ),
    "ascii with specials": (
        RenderedEmail("Your seminar, thank you", "", "<p>Thanks</p>", "Thanks\n"),
        Sender("jiro@example.jp", 'Suzuki, Jiro "JS"'),
        None,
        "news",
    ),
}


def reference(
    rendered: RenderedEmail, *, to: Sender, reply_to: str | None, topic: str | None
) -> EmailMessage:
    """The message as ``EmailMessage`` builds it."""
    message = EmailMessage(policy=policy.SMTP)
    message["Message-ID"] = "<abc123@mail.nurture.example.jp>"
    message["Date"] = format_datetime(DATE)
    sender = IDENTITY.sender
    local, _, domain = sender.email.rpartition("@")
    message["From"] = Address(sender.name or "", local, domain)
    local, _, domain = to.email.rpartition("@")
    message["To"] = Address(to.name or "", local, domain.encode("idna").decode())
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["MIME-Version"] = "1.0"
    name = topic or "all"
    message["List-Id"] = f"{name} <{name}.nurture.example.jp>"
    message["List-Unsubscribe"] = (
        f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@bounces.nurture.example.jp"
        "?subject=unsubscribe%20TOKEN>"
    )
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Feedback-ID"] = f"autumn_news.A:{topic or 'none'}:nurture"
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return message


def composed(
    rendered: RenderedEmail, *, to: Sender, reply_to: str | None, topic: str | None
) -> bytes:
    return compose(
        rendered,
        message_id="<abc123@mail.nurture.example.jp>",
        uid="abc123",
        date=DATE,
        sender=IDENTITY.sender,
        reply_to=reply_to,
        to=to,
        unsubscribe_url=UNSUBSCRIBE,
        unsubscribe_token="TOKEN",
        identity=IDENTITY,
        topic=topic,
        campaign="autumn_news.A",
    ).as_bytes()


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.parametrize("case", CASES)
def test_the_composed_message_parses_like_the_email_message_header_by_header(case: str) -> None:
    rendered, to, reply_to, topic = CASES[case]
    old = parsed(reference(rendered, to=to, reply_to=reply_to, topic=topic).as_bytes())
    new_bytes = composed(rendered, to=to, reply_to=reply_to, topic=topic)
    new = parsed(new_bytes)

    names = {"Content-Type", *old.keys()}
    assert sorted(new.keys()) == sorted(old.keys())
    for name in sorted(names - {"Content-Type"}):
        assert str(new[name]) == str(old[name]), name
    assert new.get_content_type() == old.get_content_type() == "multipart/alternative"
    old_parts, new_parts = list(old.iter_parts()), list(new.iter_parts())
    assert [p.get_content_type() for p in new_parts] == ["text/plain", "text/html"]
    for old_part, new_part in zip(old_parts, new_parts, strict=True):
        assert new_part.get_content_type() == old_part.get_content_type()
        assert new_part.get_content_charset() == "utf-8"
        assert new_part.get_content() == old_part.get_content()
    assert not old.defects and not new.defects
    assert all(not p.defects for p in new_parts)
    for line in new_bytes.split(b"\r\n"):  # CRLF only, RFC 5322 line length, 7-bit on the wire
        assert b"\n" not in line and len(line) <= 998 and line.isascii()
    head = new_bytes.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), head


def test_a_line_break_in_a_subject_or_name_cannot_add_a_header() -> None:
    rendered = RenderedEmail("ご案内\r\nBcc: victim@example.jp", "", "<p>本文</p>", "本文")
    data = composed(
        rendered, to=Sender("taro@example.jp", "山田\nX-Injected: 1"), reply_to=None, topic=None
    )
    message = parsed(data)
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert str(message["Subject"]) == "ご案内 Bcc: victim@example.jp"
    assert message["To"].addresses[0].display_name == "山田 X-Injected: 1"


def test_the_envelope_is_the_verp_sender_and_the_ascii_recipient() -> None:
    rendered, to, reply_to, topic = CASES["long bodies and subject, IDN recipient"]
    envelope = compose(
        rendered,
        message_id="<abc123@mail.nurture.example.jp>",
        uid="abc123",
        date=DATE,
        sender=IDENTITY.sender,
        reply_to=reply_to,
        to=to,
        unsubscribe_url=UNSUBSCRIBE,
        unsubscribe_token="TOKEN",
        identity=IDENTITY,
        topic=topic,
        campaign="autumn_news.A",
    )
    assert envelope.sender == "bounces+abc123@bounces.nurture.example.jp"
    assert envelope.recipient == "hanako@xn--r8jz45g.jp"
