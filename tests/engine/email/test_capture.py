"""The SMTP capture, over real SMTP (aiosmtplib) on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from engine.email.capture import (
    CaptureServer,
    effective_smtp_url,
    list_captured,
    mailbox_dir,
    raw_captured,
    read_captured,
)
from engine.errors import ConfigurationError, NotFound
from engine.settings import Settings
from tests.conftest import TEST_SECRET

SUBJECT = "【ご案内】山田 太郎 様、セミナーのお知らせ"


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[CaptureServer]:
    with CaptureServer(tmp_path / "var", port=0) as server:
        yield server


def send(capture: CaptureServer, message: EmailMessage | bytes, **kwargs: Any) -> None:
    asyncio.run(aiosmtplib.send(message, hostname="127.0.0.1", port=capture.port, **kwargs))


def japanese_message() -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = SUBJECT
    message["From"] = "ナーチャー事務局 <info@example.jp>"
    message["To"] = "山田 太郎 <taro.yamada@example.jp>"
    message["Date"] = "Mon, 23 Nov 2026 10:00:00 +0900"
    message.set_content("山田 太郎 様\n\n12月のセミナーのご案内です。\nhttps://example.jp/s/1\n")
    message.add_alternative(
        "<html><body><p>山田 太郎 様</p><p>セミナーのご案内です。</p></body></html>", subtype="html"
    )
    return message


def test_a_japanese_multipart_message_is_captured_and_read_back(
    capture: CaptureServer,
) -> None:
    send(capture, japanese_message())

    (summary,) = list_captured(capture.var_dir, limit=10)
    message = read_captured(capture.var_dir, summary.id)

    assert summary.subject == SUBJECT
    assert summary.from_ == "ナーチャー事務局 <info@example.jp>"
    assert summary.to == "山田 太郎 <taro.yamada@example.jp>"
    assert summary.envelope_from == "info@example.jp"
    assert summary.envelope_to == ["taro.yamada@example.jp"]
    assert summary.date == "2026-11-23T10:00:00+09:00"
    assert message.text is not None and "12月のセミナーのご案内です。" in message.text
    assert message.html is not None and "<p>山田 太郎 様</p>" in message.html
    assert (mailbox_dir(capture.var_dir) / f"{summary.id}.eml").read_bytes() == raw_captured(
        capture.var_dir, summary.id
    )
    assert b"=?utf-8?" in raw_captured(capture.var_dir, summary.id)  # stored as sent: encoded


def test_an_iso_2022_jp_message_is_decoded(capture: CaptureServer) -> None:
    subject = "=?ISO-2022-JP?B?" + _b64(SUBJECT.encode("iso-2022-jp")) + "?="
    body = "鈴木 様、資料をお送りします。\r\n".encode("iso-2022-jp")
    raw = (
        b"From: info@example.jp\r\nTo: suzuki@example.jp\r\n"
        + f"Subject: {subject}\r\n".encode()
        + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n"
        + b"Content-Transfer-Encoding: 7bit\r\n\r\n"
        + body
    )
    send(capture, raw, sender="info@example.jp", recipients=["suzuki@example.jp"])

    (summary,) = list_captured(capture.var_dir)
    message = read_captured(capture.var_dir, summary.id)

    assert summary.subject == SUBJECT
    assert message.text == "鈴木 様、資料をお送りします。\n"
    assert message.html is None


def test_smtputf8_addresses_and_8bit_bodies_are_accepted(capture: CaptureServer) -> None:
    message = EmailMessage()
    message["Subject"] = "ようこそ"
    message["From"] = "案内@例え.jp"
    message["To"] = "太郎@例え.jp"
    message.set_content("本文は 8bit のまま送ります。", cte="8bit")

    send(capture, message)
    (summary,) = list_captured(capture.var_dir)

    assert summary.envelope_from == "案内@例え.jp"
    assert summary.envelope_to == ["太郎@例え.jp"]
    assert "8bit のまま" in (read_captured(capture.var_dir, summary.id).text or "")


def test_the_list_is_newest_first_and_limited(capture: CaptureServer) -> None:
    for n in range(3):
        message = japanese_message()
        message.replace_header("Subject", f"第{n}回")
        send(capture, message)

    subjects = [s.subject for s in list_captured(capture.var_dir, limit=2)]

    assert subjects == ["第2回", "第1回"]
    assert list_captured(capture.var_dir, limit=0) == []


@pytest.mark.parametrize("bad", ["../secret_key", "20261123T100000000000-zzzzzzzz", "", "x" * 300])
def test_unknown_or_malformed_ids_are_not_found(capture: CaptureServer, bad: str) -> None:
    (capture.var_dir / "secret_key.eml").write_text("not mail")

    with pytest.raises(NotFound):
        read_captured(capture.var_dir, bad)
    with pytest.raises(NotFound):
        raw_captured(capture.var_dir, bad)


def test_a_taken_port_is_named_in_the_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError) as raised:
            CaptureServer(tmp_path, port=port).start()

    assert f"127.0.0.1:{port}" in raised.value.message
    assert "NURTURE_CAPTURE_SMTP_PORT" in raised.value.message


def test_mail_goes_to_the_capture_only_in_embedded_mode_without_an_smtp_url(
    tmp_path: Path,
) -> None:
    def settings(**values: str) -> Settings:
        base: dict[str, Any] = {
            "database_url": "",
            "broker_url": "",
            "smtp_url": "",
            "secret_key": TEST_SECRET,
        }
        return Settings(var_dir=tmp_path, _env_file=None, **{**base, **values})

    relay = "smtps://user:pass@smtp.example.jp:465"
    production = settings(database_url="postgresql://db/nurture", broker_url="redis://r:6379/0")

    assert effective_smtp_url(settings(), 2525) == "smtp://127.0.0.1:2525"
    assert effective_smtp_url(settings(smtp_url=relay), 2525) == relay
    assert (
        effective_smtp_url(settings(smtp_url=relay, database_url=production.database_url), 1)
        == relay
    )
    with pytest.raises(ConfigurationError, match="NURTURE_SMTP_URL"):
        effective_smtp_url(production, 2525)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")
