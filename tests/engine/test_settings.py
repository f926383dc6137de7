"""Settings: env var names, embedded defaults, and secrets that production refuses."""

from __future__ import annotations

import stat

import pytest

from engine.errors import ConfigurationError
from engine.settings import Settings

STRONG = "k" * 48


def make(monkeypatch, tmp_path, **env: str) -> Settings:
    for name in list(__import__("os").environ):
        if name.startswith("NURTURE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_embedded_defaults_need_nothing(monkeypatch, tmp_path):
    settings = make(monkeypatch, tmp_path)
    assert settings.embedded
    assert settings.resolved_database_url == "sqlite:///var/nurture.db"
    assert settings.broker_url == "" and settings.smtp_url == ""
    assert str(settings.journeys_dir) == "journeys" and str(settings.templates_dir) == "templates"


def test_public_contract_env_var_names(monkeypatch, tmp_path):
    settings = make(
        monkeypatch,
        tmp_path,
        NURTURE_DATABASE_URL="postgresql://postgres@db/nurture",
        NURTURE_BROKER_URL="redis://cache:6379/0",
        NURTURE_SMTP_URL="smtps://user:pass@mail.example.jp:465",
        NURTURE_PUBLIC_URL="https://mail.example.jp/",
        NURTURE_SECRET_KEY=STRONG,
        NURTURE_JOURNEYS_DIR="/srv/journeys",
        NURTURE_TEMPLATES_DIR="/srv/templates",
    )
    assert not settings.embedded
    assert settings.resolved_database_url == "postgresql+psycopg://postgres@db/nurture"
    assert settings.public_url == "https://mail.example.jp"
    assert settings.signing_keys() == [STRONG.encode()]
    assert str(settings.journeys_dir) == "/srv/journeys"
    assert str(settings.templates_dir) == "/srv/templates"


def test_embedded_secret_is_generated_once_and_private(monkeypatch, tmp_path):
    settings = make(monkeypatch, tmp_path)
    first = settings.signing_keys()
    assert first == make(monkeypatch, tmp_path).signing_keys()
    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first[0]) >= 32


def test_production_requires_a_secret(monkeypatch, tmp_path):
    settings = make(monkeypatch, tmp_path, NURTURE_BROKER_URL="redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigurationError) as caught:
        settings.signing_keys()
    assert "NURTURE_SECRET_KEY is required" in caught.value.message
    assert not (tmp_path / "var" / "secret_key").exists()


@pytest.mark.parametrize("placeholder", ["changeme", "secret", "short-but-not-a-placeholder"])
def test_placeholder_secrets_are_refused(monkeypatch, tmp_path, placeholder):
    settings = make(
        monkeypatch,
        tmp_path,
        NURTURE_DATABASE_URL="postgresql://x/y",
        NURTURE_SECRET_KEY=placeholder,
    )
    with pytest.raises(ConfigurationError) as caught:
        settings.signing_keys()
    assert "placeholder" in caught.value.message


def test_rotated_keys_newest_first(monkeypatch, tmp_path):
    old, new = "o" * 40, "n" * 40
    settings = make(monkeypatch, tmp_path, NURTURE_SECRET_KEY=f"{new}, {old}")
    assert settings.signing_keys() == [new.encode(), old.encode()]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NURTURE_SMTP_URL", "http://mail"),
        ("NURTURE_BROKER_URL", "amqp://x"),
        ("NURTURE_PUBLIC_URL", "mail.example.jp"),
    ],
)
def test_bad_urls_are_named(monkeypatch, tmp_path, name, value):
    with pytest.raises(ValueError, match=name.removeprefix("NURTURE_").lower()):
        make(monkeypatch, tmp_path, **{name: value})


def test_capture_port_is_a_validated_setting(monkeypatch, tmp_path):
    assert make(monkeypatch, tmp_path).capture_smtp_port == 2525
    assert make(monkeypatch, tmp_path, NURTURE_CAPTURE_SMTP_PORT="0").capture_smtp_port == 0
    with pytest.raises(ValueError, match="capture_smtp_port"):
        make(monkeypatch, tmp_path, NURTURE_CAPTURE_SMTP_PORT="smtp")
