"""``nurture users`` / ``apikeys`` / ``db`` as a user types them, in a fresh folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NURTURE = str(Path(sys.executable).with_name("nurture"))


def run(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    return subprocess.run(
        [NURTURE, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_apikeys_create_prints_the_key_alone_on_the_last_line(tmp_path):
    result = run(tmp_path, "apikeys", "create", "crm-sync", "--scopes", "admin,marketer")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("nk_") and " " not in key
    assert (tmp_path / "var" / "nurture.db").exists()  # embedded mode made the database itself

    from fastapi.testclient import TestClient

    from admin.app import create_app
    from engine.settings import Settings
    from engine.store.db import Database

    settings = Settings(var_dir=tmp_path / "var", _env_file=None)
    with TestClient(create_app(settings, Database.from_settings(settings))) as client:
        response = client.post(
            "/api/contacts",
            json={"email": "cli@example.jp"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 201


def test_apikeys_unknown_scope_is_named(tmp_path):
    result = run(tmp_path, "apikeys", "create", "x", "--scopes", "admin,root")
    assert result.returncode == 1
    assert "unknown scope 'root'" in result.stderr


def test_users_create_reads_password_from_stdin(tmp_path):
    result = run(
        tmp_path,
        "users",
        "create",
        "Sato@Example.jp",
        "--role",
        "sales",
        "--family-name",
        "佐藤",
        stdin="長いパスワードです123\n",
    )
    assert result.returncode == 0, result.stderr
    listed = run(tmp_path, "users", "list")
    assert "sato@example.jp" in listed.stdout and "佐藤" in listed.stdout

    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from engine.auth.users import verify_password
    from engine.store.models import User

    with Session(create_engine(f"sqlite:///{tmp_path / 'var' / 'nurture.db'}")) as session:
        user = session.scalars(select(User)).one()
    assert verify_password(user, "長いパスワードです123")
    assert not verify_password(user, "wrong password")


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (("users", "create", "not-an-email", "--role", "sales"), "long enough pw\n", "email:"),
        (
            ("users", "create", "a@example.jp", "--role", "boss"),
            "long enough pw\n",
            "role: choose one of",
        ),
        (
            ("users", "create", "a@example.jp", "--role", "admin"),
            "short\n",
            "password: needs at least",
        ),
    ],
)
def test_users_create_names_the_bad_field(tmp_path, args, stdin, expected):
    result = run(tmp_path, *args, stdin=stdin)
    assert result.returncode == 1
    assert expected in result.stderr


def test_db_upgrade_then_status(tmp_path):
    upgraded = run(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0 and "database at migration" in upgraded.stdout
    status = run(tmp_path, "db", "status")
    assert status.returncode == 0 and "code needs" in status.stdout


def test_production_without_database_fails_with_a_clear_message(tmp_path):
    env_url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    result = subprocess.run(
        [NURTURE, "apikeys", "create", "x", "--scopes", "admin"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "NURTURE_DATABASE_URL": env_url},
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot open the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_sales_key_tied_to_a_user_sees_only_their_leads(tmp_path):
    assert (
        run(
            tmp_path,
            "users",
            "create",
            "sato@example.jp",
            "--role",
            "sales",
            stdin="長いパスワードです123\n",
        ).returncode
        == 0
    )
    nobody = run(
        tmp_path, "apikeys", "create", "x", "--scopes", "sales", "--user", "ghost@example.jp"
    )
    assert nobody.returncode == 1
    assert "no user 'ghost@example.jp'" in nobody.stderr
    sales_key = (
        run(tmp_path, "apikeys", "create", "sato", "--scopes", "sales", "--user", "Sato@example.jp")
        .stdout.strip()
        .splitlines()[-1]
    )
    admin_key = (
        run(tmp_path, "apikeys", "create", "admin", "--scopes", "admin")
        .stdout.strip()
        .splitlines()[-1]
    )

    from fastapi.testclient import TestClient

    from admin.app import create_app
    from engine.settings import Settings
    from engine.store.db import Database

    settings = Settings(var_dir=tmp_path / "var", _env_file=None)
    with TestClient(create_app(settings, Database.from_settings(settings))) as client:
        admin = {"Authorization": f"Bearer {admin_key}"}
        sales = {"Authorization": f"Bearer {sales_key}"}
        client.post(
            "/api/contacts",
            json={"email": "mine@example.jp", "owner": "sato@example.jp"},
            headers=admin,
        )
        client.post("/api/contacts", json={"email": "theirs@example.jp"}, headers=admin)
        listed = client.get("/api/contacts", headers=sales).json()
        assert [c["email"] for c in listed["items"]] == ["mine@example.jp"]
        assert client.get("/api/contacts/theirs@example.jp", headers=sales).status_code == 404
        assert (
            client.get("/api/contacts/mine@example.jp/timeline", headers=sales).status_code == 200
        )
