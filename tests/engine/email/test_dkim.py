"""DKIM: mail signed on its way out verifies at a real SMTP server; tampering breaks it."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from dkim.canonicalization import Relaxed
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app
from engine.email.compose import MailIdentity, compose
from engine.email.dkim import (
    SIGNED_HEADERS,
    DkimSigner,
    KeyPair,
    generate_key,
    relaxed_body,
    relaxed_headers,
)
from engine.email.smtp import SmtpMailer
from engine.email.templates import RenderedEmail, Sender
from engine.errors import ConfigurationError
from engine.settings import Settings
from tests.engine.email.scripted_smtp import FaultySmtp

IDENTITY = MailIdentity(
    sender=Sender("info@nurture.example.jp", "株式会社ナーチャー 事務局"),
    postal_address="〒100-0001 東京都千代田区千代田1-1",
    bounce_domain="bounces.nurture.example.jp",
    list_domain="nurture.example.jp",
    public_url="https://mail.nurture.example.jp",
)


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return generate_key()


def dns_of(pair: KeyPair, name: bytes = b"s1._domainkey.nurture.example.jp."):
    def lookup(query: bytes, timeout: int = 5) -> bytes | None:
        return pair.txt_value().encode() if query == name else None

    return lookup


def japanese_mail() -> bytes:
    envelope = compose(
        RenderedEmail(
            subject="山田 太郎 様、セミナーへのご参加ありがとうございました",
            preheader="",
            html="<p>本日はありがとうございました。</p>",
            text="本日はありがとうございました。",
        ),
        message_id="<abc123@mail.nurture.example.jp>",
        uid="abc123",
        date=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
        sender=IDENTITY.sender,
        reply_to=None,
        to=Sender("taro.yamada@example.jp", "山田 太郎"),
        unsubscribe_url="https://mail.nurture.example.jp/u/TOKEN",
        unsubscribe_token="TOKEN",
        identity=IDENTITY,
        topic="seminar_followup",
        campaign="seminar-followup-ja.thanks",
    )
    return envelope.as_bytes()


def test_signed_japanese_mail_verifies_as_received_and_a_tampered_unsubscribe_does_not(
    key: KeyPair,
) -> None:
    signer = DkimSigner("s1", "nurture.example.jp", key.private_pem)
    from engine.email.smtp import Outgoing

    with FaultySmtp({}) as server:
        outcomes = SmtpMailer(server.url, timeout=2, signer=signer).deliver(
            [Outgoing("bounces+abc123@example.jp", "taro.yamada@example.jp", japanese_mail())]
        )
    assert [o.verdict for o in outcomes] == ["sent"]
    raw = server.received[0].raw

    assert dkim.verify(raw, dnsfunc=dns_of(key))
    signature = raw.split(b"\r\n\r\n", 1)[0].split(b"DKIM-Signature:", 1)[1]
    signed = re.search(rb"h=([^;]+);", re.sub(rb"\s+", b"", signature))
    assert signed is not None
    assert set(signed.group(1).lower().split(b":")) >= {
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
        b"list-id",
        b"feedback-id",
    }
    assert b"a=rsa-sha256" in signature and b"c=relaxed/relaxed" in signature

    tampered = raw.replace(b"https://mail.nurture.example.jp/u/TOKEN", b"https://evil.example/u/X")
    assert tampered != raw
    assert not dkim.verify(tampered, dnsfunc=dns_of(key))
    assert not dkim.verify(raw, dnsfunc=dns_of(generate_key(1024)))  # another key


def test_the_signer_is_read_from_settings_and_bad_keys_are_named(
    tmp_path: Path, key: KeyPair
) -> None:
    base = Settings(_env_file=None, var_dir=tmp_path)
    assert DkimSigner.from_settings(base, default_domain="example.jp") is None

    pem = tmp_path / "s1.pem"
    pem.write_bytes(key.private_pem)
    configured = base.model_copy(update={"dkim_selector": "s1", "dkim_private_key_path": pem})
    signer = DkimSigner.from_settings(configured, default_domain="example.jp")
    assert signer is not None and (signer.selector, signer.domain) == ("s1", "example.jp")

    pem.write_text("not a key")
    with pytest.raises(ConfigurationError) as bad:
        DkimSigner.from_settings(configured, default_domain="example.jp")
    assert bad.value.message.startswith(f"NURTURE_DKIM_PRIVATE_KEY_PATH ({pem}): not an RSA")
    missing = configured.model_copy(update={"dkim_private_key_path": tmp_path / "none.pem"})
    with pytest.raises(ConfigurationError) as unreadable:
        DkimSigner.from_settings(missing, default_domain="example.jp")
    assert "cannot read" in unreadable.value.message
    no_selector = base.model_copy(update={"dkim_private_key_path": pem, "dkim_selector": ""})
    with pytest.raises(ConfigurationError) as unnamed:
        DkimSigner.from_settings(no_selector, default_domain="example.jp")
    assert unnamed.value.message.startswith("NURTURE_DKIM_SELECTOR")


def test_keygen_writes_a_private_key_and_prints_a_record_that_verifies(tmp_path: Path) -> None:
    path = tmp_path / "dkim" / "s1.pem"
    result = CliRunner().invoke(
        app, ["dkim", "keygen", "--selector", "s1", "--domain", "例え.jp", "--key", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert path.stat().st_mode & 0o777 == 0o600
    record = re.search(r"s1\._domainkey\.xn--r8jz45g\.jp\. IN TXT \( (.+) \)", result.output)
    assert record is not None
    value = "".join(re.findall(r'"([^"]+)"', record.group(1)))
    assert value.startswith("v=DKIM1; k=rsa; p=")

    signer = DkimSigner("s1", "xn--r8jz45g.jp", path.read_bytes())
    signed = signer.sign(japanese_mail())
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: value.encode())

    again = CliRunner().invoke(
        app, ["dkim", "keygen", "--selector", "s1", "--domain", "例え.jp", "--key", str(path)]
    )
    assert again.exit_code == 1 and "already there" in again.output


def test_the_signature_is_byte_for_byte_the_one_dkimpy_makes(
    key: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail = japanese_mail()
    signed = DkimSigner("s1", "nurture.example.jp", key.private_pem).sign(
        mail, timestamp=1_795_000_000
    )
    monkeypatch.setattr(dkim.time, "time", lambda: 1_795_000_000.0)
    include = [h for h in SIGNED_HEADERS if h.lower() + b":" in mail.lower()]
    by_dkimpy = dkim.sign(
        mail,
        b"s1",
        b"nurture.example.jp",
        key.private_pem,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=include,
    )

    assert signed == by_dkimpy + mail
    assert b"list-unsubscribe : list-unsubscribe-post" in signed
    assert dkim.verify(signed, dnsfunc=dns_of(key))


# Bodies made of the pieces relaxed canonicalisation cares about: blanks, tabs, line ends.
_PIECES = st.sampled_from([b"a", b"\xe3\x81\x82", b" ", b"  ", b"\t", b"\r\n", b"\r", b"\n", b"="])


@given(st.lists(_PIECES, max_size=40).map(b"".join))
def test_the_relaxed_body_is_dkimpys_for_any_body(body: bytes) -> None:
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


_NAMES = st.sampled_from([b"Subject", b"FROM", b"x-Tag ", b"To\t"])


@given(st.lists(st.tuples(_NAMES, st.lists(_PIECES, max_size=20).map(b"".join)), max_size=5))
def test_relaxed_headers_are_dkimpys_for_any_fields(fields: list[tuple[bytes, bytes]]) -> None:
    headers = [[name, value] for name, value in fields]
    assert relaxed_headers(headers) == list(Relaxed.canonicalize_headers(headers))


def test_a_body_with_blanks_to_fold_is_signed_so_that_it_verifies(key: KeyPair) -> None:
    body = "山田 太郎\t様  \r\nご参加  ありがとうございました。 \t\r\n\r\n\r\n".encode()
    mail = japanese_mail().partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + body
    signed = DkimSigner("s1", "nurture.example.jp", key.private_pem).sign(mail)

    assert dkim.verify(signed, dnsfunc=dns_of(key))
    assert not dkim.verify(signed.replace("太郎".encode(), "次郎".encode()), dnsfunc=dns_of(key))


def test_an_ed25519_key_signs_ed25519_sha256_that_dkimpy_verifies(tmp_path: Path) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    raw_public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw_public)
    path = tmp_path / "ed.pem"
    path.write_bytes(pem)
    settings = Settings(
        _env_file=None, var_dir=tmp_path, dkim_selector="ed1", dkim_private_key_path=path
    )
    signer = DkimSigner.from_settings(settings, default_domain="nurture.example.jp")
    assert signer is not None

    signed = signer.sign(japanese_mail())

    def lookup(query: bytes, timeout: int = 5) -> bytes | None:
        return record if query == b"ed1._domainkey.nurture.example.jp." else None

    assert b"a=ed25519-sha256" in signed
    assert dkim.verify(signed, dnsfunc=lookup)
    tampered = signed.replace(b"unsubscribe%20TOKEN", b"unsubscribe%20OTHER")
    assert tampered != signed
    assert not dkim.verify(tampered, dnsfunc=lookup)
