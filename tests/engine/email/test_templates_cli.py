"""``nurture templates check|preview|send-test`` as a user runs them: output, exit codes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from engine.clock import utcnow
from engine.contacts.service import ContactRow, upsert_contacts
from engine.store.db import Database
from tests.engine.email.smtp_server import Script, SmtpServer

NURTURE = str(Path(sys.executable).with_name("nurture"))
ROOT = Path(__file__).resolve().parents[3]


def run(
    cwd: Path, *args: str, database: Database | None = None, smtp_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    if smtp_url is not None:
        env["NURTURE_SMTP_URL"] = smtp_url
    env["COLUMNS"] = "300"  # keep Rich from wrapping the lines we look for
    if database is not None:
        env["NURTURE_DATABASE_URL"] = database.url
        env["NURTURE_SECRET_KEY"] = "cli-test-" + "k" * 40
        env["NURTURE_POSTAL_ADDRESS"] = "〒100-0001 東京都千代田区千代田1-1"
    return subprocess.run(
        [NURTURE, "templates", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
        check=False,
    )


def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    return tmp_path


def test_check_passes_on_the_shipped_templates(tmp_path: Path) -> None:
    result = run(project(tmp_path), "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "23 templates OK" in result.stdout


def test_check_prints_each_error_as_file_and_line(tmp_path: Path) -> None:
    folder = project(tmp_path) / "templates"
    thanks = folder / "seminar-thanks-ja.mjml"
    lines = thanks.read_text(encoding="utf-8").splitlines()
    lines[11] = lines[11].replace("{{ contact.last_name }}", "{{ contact.last_name }")  # line 12
    thanks.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "welcome-9.mjml").write_text(
        "---\nsubject: ようこそ\nsender: 事務局\n---\n<mjml></mjml>\n", encoding="utf-8"
    )

    result = run(tmp_path, "check")

    assert result.returncode == 1
    printed = result.stdout.splitlines()
    assert printed[0].startswith("templates/seminar-thanks-ja.mjml:12: unexpected ")
    assert printed[1].startswith("templates/welcome-9.mjml:3: unknown front matter key 'sender'")
    assert "2 of 24 templates have errors" in result.stderr


def test_preview_renders_a_template_for_a_contact(tmp_path: Path, database: Database) -> None:
    with database.unit_of_work() as session:
        ids = upsert_contacts(
            session,
            [
                ContactRow(
                    email="taro.yamada@example.jp", first_name="太郎", last_name="山田", locale="ja"
                )
            ],
            now=utcnow(),
            reason="test",
        ).ids
    cwd = project(tmp_path)

    summary = run(
        cwd,
        "preview",
        "seminar-thanks-ja",
        "--contact",
        "Taro.Yamada@example.jp",
        database=database,
    )
    text = run(
        cwd,
        "preview",
        "seminar-consult-offer-ja",
        "-c",
        str(ids["taro.yamada@example.jp"]),
        "--text",
        database=database,
    )
    html = run(
        cwd,
        "preview",
        "seminar-thanks-ja",
        "-c",
        "taro.yamada@example.jp",
        "--html",
        database=database,
    )
    missing = run(cwd, "preview", "seminar-thanks-ja", "-c", "nobody@example.jp", database=database)

    assert summary.returncode == 0, summary.stderr
    assert "Subject: 山田 様、本日はセミナーへのご参加ありがとうございました" in summary.stdout
    assert "From: 株式会社ナーチャー セミナー事務局 <seminar@nurture.example.jp>" in summary.stdout
    assert "山田 太郎 様" in summary.stdout
    assert text.returncode == 0 and text.stdout.startswith("株式会社ナーチャー セミナー事務局\n")
    assert "〒100-0001 東京都千代田区千代田1-1" in text.stdout
    assert html.returncode == 0 and html.stdout.lstrip().startswith("<!doctype html>")
    assert missing.returncode == 1 and "no contact 'nobody@example.jp'" in missing.stderr


def test_send_test_mails_the_rendering_to_the_tester(tmp_path: Path, database: Database) -> None:
    with database.unit_of_work() as session:
        upsert_contacts(
            session,
            [ContactRow(email="hanako.sato@example.jp", first_name="花子", last_name="佐藤")],
            now=utcnow(),
            reason="test",
        )
    cwd = project(tmp_path)
    args = ("send-test", "seminar-thanks-ja", "-c", "hanako.sato@example.jp")

    # The server refuses the first recipient only.
    with SmtpServer(Script(rcpt=["550 5.1.1 no such user"])) as server:
        refused = run(
            cwd, *args, "--to", "gone@nurture.example.jp", database=database, smtp_url=server.url
        )
        sent = run(
            cwd, *args, "--to", "tester@nurture.example.jp", database=database, smtp_url=server.url
        )
        bad_to = run(cwd, *args, "--to", "not an address", database=database, smtp_url=server.url)
        received = list(server.received)

    assert sent.returncode == 0, sent.stderr
    assert "to tester@nurture.example.jp" in sent.stdout
    assert refused.returncode == 1 and "550 5.1.1" in refused.stderr, refused
    assert bad_to.returncode == 1 and "--to:" in bad_to.stderr
    (mail,) = received
    assert mail.rcpt_tos == ["tester@nurture.example.jp"]
    message = mail.message
    assert message["Subject"] == "[TEST] 佐藤 様、本日はセミナーへのご参加ありがとうございました"
    assert message["To"] == "tester@nurture.example.jp"
    assert "List-Unsubscribe" in message and "/u/preview" in message["List-Unsubscribe"]
    html = message.get_body(("html",)).get_content()
    assert "佐藤 花子 様" in html
    assert "/t/c/" not in html and "/t/o/" not in html  # a test is never tracked
