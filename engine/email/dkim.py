"""DKIM signatures (dkimpy) on outgoing mail, and the keys and DNS records they need.

Signed relaxed/relaxed with rsa-sha256 over the headers mailbox providers check, the
one-click unsubscribe headers included (Gmail and Yahoo require them to be covered).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from engine.errors import ConfigurationError
from engine.settings import Settings

#: Headers covered by the signature, when the message has them.
SIGNED_HEADERS: tuple[bytes, ...] = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"MIME-Version",
    b"Content-Type",
    b"Reply-To",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"List-Id",
    b"Feedback-ID",
)
#: Bits of a generated RSA key: 2048 is what providers expect and fits a DNS TXT record.
KEY_BITS = 2048


@dataclass(frozen=True, slots=True)
class DkimSigner:
    """Signs messages as ``d=domain; s=selector`` with one private key (PEM)."""

    selector: str
    domain: str
    private_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings, *, default_domain: str) -> DkimSigner | None:
        """The configured signer, or None when no DKIM key is set.

        Raises ConfigurationError naming the setting when the key is unreadable or the
        selector is missing.
        """
        pem = settings.dkim_private_key.get_secret_value().strip().encode()
        path = settings.dkim_private_key_path
        if not pem and path is None:
            return None
        if not pem and path is not None:
            try:
                pem = path.read_bytes()
            except OSError as error:
                raise ConfigurationError(
                    f"NURTURE_DKIM_PRIVATE_KEY_PATH: cannot read {path}: {error.strerror}"
                ) from None
        source = f"NURTURE_DKIM_PRIVATE_KEY_PATH ({path})" if path else "NURTURE_DKIM_PRIVATE_KEY"
        if not settings.dkim_selector:
            raise ConfigurationError("NURTURE_DKIM_SELECTOR is required when a DKIM key is set")
        try:
            dkim.parse_pem_private_key(pem)
        except (dkim.KeyFormatError, dkim.UnparsableKeyError, ValueError) as error:
            raise ConfigurationError(f"{source}: not an RSA private key in PEM: {error}") from None
        return cls(settings.dkim_selector, settings.dkim_domain or default_domain, pem)

    def sign(self, data: bytes) -> bytes:
        """Return the message with a ``DKIM-Signature`` header on top (CRLF line ends)."""
        signature = dkim.sign(
            data,
            self.selector.encode(),
            self.domain.encode(),
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[h for h in SIGNED_HEADERS if _has_header(data, h)],
        )
        return bytes(signature) + data


def _has_header(data: bytes, name: bytes) -> bool:
    """True when the header block holds ``name`` (signing an absent header would forbid adding it)."""
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    return head.startswith(name.lower() + b":") or b"\r\n" + name.lower() + b":" in head


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A new DKIM key: the private PEM to keep, and the TXT record to publish."""

    private_pem: bytes
    public_key: bytes  # DER SubjectPublicKeyInfo, as ``p=`` carries it (base64)

    def txt_value(self) -> str:
        """The TXT record's value: ``v=DKIM1; k=rsa; p=…``."""
        return f"v=DKIM1; k=rsa; p={base64.b64encode(self.public_key).decode()}"

    def zone_line(self, selector: str, domain: str) -> str:
        """The record as a zone-file line, the value split into 255-byte strings."""
        value = self.txt_value()
        chunks = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
        return f"{selector}._domainkey.{domain}. IN TXT ( {chunks} )"


def generate_key(bits: int = KEY_BITS) -> KeyPair:
    """Make a new RSA key pair for DKIM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private, public)


def write_key(path: Path, pair: KeyPair) -> None:
    """Write the private key readable by its owner only; refuse to overwrite a key.

    Raises ConfigurationError naming the path when it exists.
    """
    if path.exists():
        raise ConfigurationError(f"{path}: a key is already there; move it away or pick another")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as handle:
        path.chmod(0o600)
        handle.write(pair.private_pem)
