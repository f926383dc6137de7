"""One settings class for every process, read from ``NURTURE_*`` env vars and ``.env``."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.errors import ConfigurationError

#: Secrets that show up in tutorials and must never sign production links.
_PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "changethis",
        "secret",
        "secret-key",
        "your-secret-key",
        "nurture",
        "password",
        "development",
        "dev",
        "test",
        "xxx",
    }
)
_MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Runtime configuration; embedded defaults need nothing but a writable ``./var/``."""

    model_config = SettingsConfigDict(
        env_prefix="NURTURE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    var_dir: Path = Field(Path("var"), description="Embedded mode's data folder.")
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty = SQLite file var/nurture.db (embedded)."
    )
    broker_url: str = Field(
        "", description="redis://host:port/db for dramatiq; empty = in-process broker."
    )
    smtp_url: str = Field(
        "", description="smtp://host:port or smtps://user:pass@host:port; empty = capture."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL of tracking links and the admin UI."
    )
    secret_key: SecretStr = Field(
        SecretStr(""), description="Signing key(s), comma-separated: first signs, all verify."
    )
    capture_smtp_port: int = Field(
        2525, ge=0, le=65535, description="Embedded SMTP capture port on 127.0.0.1 (0 = any free)."
    )
    journeys_dir: Path = Path("journeys")
    templates_dir: Path = Path("templates")
    sender_name: str = Field("Nurture", description="Default From name of mail.")
    sender_email: str = Field(
        "", description="Default From address; empty = nurture@ the public URL's host."
    )
    postal_address: str = Field(
        "", description="Sender's postal address, in every mail's footer (required in production)."
    )
    bounce_domain: str = Field(
        "", description="Domain of VERP bounce addresses bounces+UID@; empty = public URL's host."
    )
    list_id: str = Field("", description="List-Id domain of mail; empty = the public URL's host.")
    bounce_smtp_port: int = Field(
        0, ge=0, le=65535, description="Embedded bounce receiver port (0 = not started)."
    )
    fbl_addresses: list[str] = Field(
        default_factory=list, description="Feedback-loop addresses the bounce receiver accepts."
    )
    soft_bounce_limit: int = Field(
        3, ge=1, description="Soft bounces within soft_bounce_window_days that suppress."
    )
    soft_bounce_window_days: int = Field(30, ge=1, description="Window for soft_bounce_limit.")
    redis_url: str = Field("", description="Redis for locks and buffers; default: broker_url.")
    log_level: str = "INFO"
    webhook_allow_private: bool = Field(
        False,
        description="Let webhooks reach loopback and private addresses (on-premises receivers).",
    )
    slack_webhook_url: str = Field(
        "", description="Slack incoming-webhook URL for notifications on channel slack."
    )
    crm_webhook_url: str = Field(
        "", description="Where handoffs are sent as signed webhooks; empty = not sent."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text (for a terminal) or one JSON object per line."
    )
    tracking_enabled: bool = Field(
        True, description="Track opens and clicks (rewrite links, add the pixel); off = neither."
    )
    tracking_ip: Literal["full", "truncate", "drop"] = Field(
        "truncate",
        description="What is kept of a tracked request's IP: all of it, the network (/24, /48), or none.",
    )
    smtp_connections: int = Field(
        4, ge=1, le=100, description="Persistent SMTP connections per worker process."
    )
    smtp_timeout: float = Field(
        30.0, gt=0, description="Seconds to wait for the SMTP server to connect or to answer."
    )
    smtp_data_timeout: float = Field(
        120.0, gt=0, description="Seconds to wait for the SMTP server to accept a message's data."
    )
    smtp_rate: float = Field(0.0, ge=0, description="Messages per second overall; 0 = no limit.")
    smtp_domain_rates: str = Field(
        "", description="Messages per second per recipient domain: gmail.com=20,yahoo.co.jp=10."
    )
    smtp_policy_pause: float = Field(
        900.0, ge=0, description="Seconds to pause a domain after a policy refusal (5.7.x)."
    )
    dkim_selector: str = Field("", description="DKIM selector; signing is on when a key is set.")
    dkim_domain: str = Field("", description="DKIM signing domain (d=); empty = the From domain.")
    dkim_private_key_path: Path | None = Field(None, description="PEM file of the DKIM key.")
    dkim_private_key: SecretStr = Field(
        SecretStr(""), description="The DKIM key as PEM text (instead of a file)."
    )

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://mail.example.com")
        return value.rstrip("/")

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_scheme(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"smtp", "smtps"}:
            raise ValueError("must start with smtp:// or smtps://")
        return value

    @field_validator("broker_url")
    @classmethod
    def _broker_url_scheme(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"redis", "rediss"}:
            raise ValueError("must be a redis:// URL (empty = in-process broker)")
        return value

    @field_validator("smtp_domain_rates")
    @classmethod
    def _domain_rates_parse(cls, value: str) -> str:
        from engine.email.ratelimit import Rates

        try:
            Rates.parse(0, value)
        except ConfigurationError as error:
            raise ValueError(error.message) from None
        return value

    @cached_property
    def embedded(self) -> bool:
        """True when no external service is configured: SQLite and the in-process broker."""
        return not self.broker_url and self.resolved_database_url.startswith("sqlite")

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file in ``var_dir``."""
        if self.database_url:
            return _with_driver(self.database_url)
        return f"sqlite:///{(self.var_dir / 'nurture.db').as_posix()}"

    @cached_property
    def resolved_redis_url(self) -> str:
        """Redis for locks and buffers; empty in embedded mode."""
        return self.redis_url or self.broker_url

    def signing_keys(self) -> list[bytes]:
        """Return the signing keys, newest first; generate and keep one in embedded mode.

        Raises ConfigurationError outside embedded mode when no strong key is set.
        """
        raw = self.secret_key.get_secret_value()
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        if not keys:
            if not self.embedded:
                raise ConfigurationError(
                    "NURTURE_SECRET_KEY is required when PostgreSQL or Redis is configured; "
                    'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
                )
            keys = [_embedded_secret(self.var_dir)]
        for key in keys:
            if key.lower() in _PLACEHOLDER_SECRETS or len(key) < _MIN_SECRET_LENGTH:
                raise ConfigurationError(
                    f"NURTURE_SECRET_KEY: a key of {len(key)} characters looks like a placeholder; "
                    f"use at least {_MIN_SECRET_LENGTH} random characters"
                )
        return [k.encode() for k in keys]


def _with_driver(url: str) -> str:
    """Pick psycopg 3 for bare ``postgresql://`` URLs, which SQLAlchemy maps to psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _embedded_secret(var_dir: Path) -> str:
    """Read the embedded signing key, creating it (mode 0600) on first use."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of this install won the race
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key
