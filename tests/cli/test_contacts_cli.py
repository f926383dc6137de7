"""``nurture contacts import|export`` as a user runs them: exit codes, messages, line numbers."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from engine.store.models import Contact

NURTURE = str(Path(sys.executable).with_name("nurture"))

PEOPLE = (
    "E-mail,姓,名,会社名,タグ\n"
    "yamada@example.jp,山田,太郎,株式会社ノースウィンド,展示会\n"
    '"sato@example.jp",佐藤,"花子\nさん",株式会社サウスウィンド,\n'  # lines 3-4
    "taro@,田中,次郎,株式会社ウェスト,\n"  # line 5
    "suzuki@example.jp,鈴木,一郎,株式会社イースト,VIP,余分\n"  # line 6
)


def run(cwd: Path, database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env["NURTURE_DATABASE_URL"] = database.url
    env["COLUMNS"] = "200"  # keep Rich from wrapping the messages we look for
    return subprocess.run(
        [NURTURE, "contacts", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
        check=False,
    )


def emails(database) -> set[str]:
    with database.sessions() as session:
        return set(session.scalars(select(Contact.email)))


def test_import_reports_bad_rows_by_line_and_imports_the_rest(database, tmp_path):
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    result = run(tmp_path, database, "import", "people.csv", "--errors", "fix.csv")

    assert result.returncode == 1, result.stderr
    assert "people.csv:5: email: 'taro@' is not a valid email address" in result.stderr
    assert "people.csv:6: has 6 values but the header has 5 columns" in result.stderr
    assert "bad rows written to fix.csv" in result.stderr
    assert "rows read" in result.stdout and "skipped (bad)" in result.stdout
    assert emails(database) == {"yamada@example.jp", "sato@example.jp"}
    bad = list(csv.reader(io.StringIO((tmp_path / "fix.csv").read_text(encoding="utf-8-sig"))))
    assert [row[0] for row in bad] == ["E-mail", "taro@", "suzuki@example.jp"]
    assert bad[0][-1] == "error"


def test_clean_import_exits_0_and_a_rerun_only_updates(database, tmp_path):
    (tmp_path / "people.csv").write_text(PEOPLE.split("taro@")[0], encoding="utf-8")
    first = run(tmp_path, database, "import", "people.csv", "--tag", "2026秋")
    second = run(tmp_path, database, "import", "people.csv", "--tag", "2026秋")

    assert first.returncode == 0, first.stderr
    assert _summary(first.stdout) == {"rows read": "2", "created": "2", "updated": "0"}
    assert second.returncode == 0, second.stderr
    assert _summary(second.stdout) == {"rows read": "2", "created": "0", "updated": "2"}


def _summary(stdout: str) -> dict[str, str]:
    cells = {}
    for line in stdout.splitlines():
        parts = [p.strip() for p in line.strip("│┃|").split("│")]
        if len(parts) == 2 and parts[0] in {"rows read", "created", "updated"}:
            cells[parts[0]] = parts[1]
    return cells


def test_file_level_problems_exit_2_naming_the_problem(database, tmp_path):
    missing = run(tmp_path, database, "import", "nope.csv")
    (tmp_path / "names.csv").write_text(
        "氏名,会社\n山田太郎,株式会社ノースウィンド\n", encoding="utf-8"
    )
    no_email = run(tmp_path, database, "import", "names.csv")
    bad_map = run(tmp_path, database, "import", "names.csv", "--map", "氏名")

    assert missing.returncode == 2 and "nope.csv: no such file" in missing.stderr
    assert (
        no_email.returncode == 2
        and "no email column; the header has '氏名', '会社'" in no_email.stderr
    )
    assert bad_map.returncode == 2 and "--map '氏名'" in bad_map.stderr


def test_cp932_in_then_export_to_stdout_and_cp932_file(database, tmp_path):
    (tmp_path / "excel.csv").write_bytes(
        "メールアドレス,姓,名,会社名\r\nyamada@example.jp,山田,太郎,株式会社髙島屋\r\n".encode(
            "cp932"
        )
    )
    imported = run(tmp_path, database, "import", "excel.csv", "--list", "expo")
    exported = run(tmp_path, database, "export", "-")
    to_file = run(tmp_path, database, "export", "out.csv", "--encoding", "cp932", "--tag", "none")

    assert imported.returncode == 0, imported.stderr
    assert "excel.csv (cp932)" in imported.stdout
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout.removeprefix("\ufeff"))))
    assert (rows[0]["last_name"], rows[0]["会社名"]) == ("山田", "株式会社髙島屋")
    assert to_file.returncode == 0 and "exported 0 contacts" in to_file.stderr
    assert (tmp_path / "out.csv").read_bytes().decode("cp932").startswith("email,first_name")


def test_export_refuses_a_naive_time(database, tmp_path):
    result = run(tmp_path, database, "export", "-", "--updated-since", "2026-11-01T09:00:00")
    assert result.returncode == 1 and "add a time zone offset" in result.stderr
