"""``nurture journeys enroll`` and ``remove`` as a user types them: by email, from a file, and
in bulk by a condition."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

NURTURE = str(Path(sys.executable).with_name("nurture"))
JOURNEYS = Path(__file__).parents[2] / "journeys"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    return subprocess.run(
        [NURTURE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_bulk_and_email_enrollment(tmp_path):
    shutil.copy(JOURNEYS / "b2b-lead-nurture.yaml", tmp_path / "b2b-lead-nurture.yaml")
    rows = ["email,姓,名,lifecycle_stage"] + [
        f"lead{i}@example.jp,山田,太郎{i},lead" for i in range(30)
    ]
    rows += ["customer@example.jp,佐藤,花子,customer"]
    (tmp_path / "people.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert run(tmp_path, "contacts", "import", "people.csv").returncode == 0
    assert run(tmp_path, "journeys", "deploy", "b2b-lead-nurture.yaml").returncode == 0

    bulk = run(
        tmp_path,
        "journeys",
        "enroll",
        "b2b-lead-nurture",
        "--where",
        "{attr: lifecycle_stage, in: [lead, customer]}",
    )
    assert bulk.returncode == 0, bulk.stderr
    assert "enrolled 30 in b2b-lead-nurture; refused: audience 1" in bulk.stdout

    again = run(
        tmp_path,
        "journeys",
        "enroll",
        "b2b-lead-nurture",
        "-e",
        "LEAD1@example.jp",
        "-e",
        "nobody@example.jp",
    )
    assert again.returncode == 0, again.stderr
    assert "enrolled 0" in again.stdout
    assert "already_enrolled 1" in again.stdout
    assert "nobody@example.jp" in again.stdout

    for args, message in [
        ((), "say who to enroll"),
        (("--where", "{colour: red}"), "--where is not a condition"),
        (("--segment", "上得意"), "no segment '上得意'"),
        (("--segment", " "), "--segment needs a segment id"),
        (("-e", "bad@"), "--email 1:"),
    ]:
        failed = run(tmp_path, "journeys", "enroll", "b2b-lead-nurture", *args)
        assert failed.returncode == 1
        assert message in failed.stderr
    missing = run(tmp_path, "journeys", "enroll", "no-such-journey", "-e", "lead1@example.jp")
    assert missing.returncode == 1
    assert "no deployed journey 'no-such-journey'" in missing.stderr


def test_removing_by_email_and_from_a_file(tmp_path):
    shutil.copy(JOURNEYS / "b2b-lead-nurture.yaml", tmp_path / "b2b-lead-nurture.yaml")
    rows = ["email,姓,名,lifecycle_stage"] + [
        f"lead{i}@example.jp,山田,太郎{i},lead" for i in range(4)
    ]
    (tmp_path / "people.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert run(tmp_path, "contacts", "import", "people.csv").returncode == 0
    assert run(tmp_path, "journeys", "deploy", "b2b-lead-nurture.yaml").returncode == 0
    enrolled = run(
        tmp_path,
        "journeys",
        "enroll",
        "b2b-lead-nurture",
        "-e",
        "lead0@example.jp",
        "-e",
        "lead1@example.jp",
        "-e",
        "lead2@example.jp",
    )
    assert "enrolled 3" in enrolled.stdout, enrolled.stderr

    # A BOM, a blank line and a stray space, as a spreadsheet saves them.
    (tmp_path / "stop.txt").write_text("\ufefflead1@example.jp\n\n LEAD2@example.jp\n", "utf-8")
    removed = run(
        tmp_path,
        "journeys",
        "remove",
        "b2b-lead-nurture",
        "--emails-file",
        "stop.txt",
        "-e",
        "lead3@example.jp",
        "-e",
        "ghost@example.jp",
    )
    assert removed.returncode == 0, removed.stderr
    assert "removed 2 from b2b-lead-nurture" in removed.stdout
    assert "not in b2b-lead-nurture: lead3@example.jp" in removed.stdout
    assert "no contact with these emails: ghost@example.jp" in removed.stdout
    # Ended, not deleted: the journey's re-entry rule (after_exit, 90 days) now applies.
    again = run(tmp_path, "journeys", "enroll", "b2b-lead-nurture", "-e", "lead1@example.jp")
    assert "enrolled 0" in again.stdout and "cooldown 1" in again.stdout, again.stdout
    twice = run(tmp_path, "journeys", "remove", "b2b-lead-nurture", "-e", "lead1@example.jp")
    assert "removed 0" in twice.stdout and "not in b2b-lead-nurture: lead1" in twice.stdout

    # In bulk by a condition: lead0 is the only one of the four still in.
    bulk = run(
        tmp_path, "journeys", "remove", "b2b-lead-nurture", "--where", "{attr: last_name, eq: 山田}"
    )
    assert bulk.returncode == 0, bulk.stderr
    assert "removed 1 from b2b-lead-nurture (4 contacts matched)" in bulk.stdout

    (tmp_path / "bad.txt").write_text("lead0@example.jp\n\nnot-an-email\n", encoding="utf-8")
    for args, message in [
        ((), "say who to remove"),
        (("-e", "lead0@example.jp", "--segment", "vip"), "one of them"),
        (("--where", "{colour: red}"), "--where is not a condition"),
        (("--segment", "vip, tag: x"), "no segment 'vip, tag: x'"),
        (("--emails-file", "bad.txt"), "bad.txt:3:"),
        (("--emails-file", "absent.txt"), "absent.txt"),
    ]:
        failed = run(tmp_path, "journeys", "remove", "b2b-lead-nurture", *args)
        assert failed.returncode == 1
        assert message in failed.stderr, failed.stderr
    for args in (("-e", "lead0@example.jp"), ("--where", "{attr: last_name, eq: 山田}")):
        missing = run(tmp_path, "journeys", "remove", "no-such-journey", *args)
        assert missing.returncode == 1
        assert "no deployed journey 'no-such-journey'" in missing.stderr


def test_enrolling_and_removing_by_a_synced_segment(tmp_path):
    shutil.copy(JOURNEYS / "b2b-lead-nurture.yaml", tmp_path / "b2b-lead-nurture.yaml")
    rows = ["email,姓,名,lifecycle_stage,会社"] + [
        f"lead{i}@example.jp,山田,太郎{i},lead,{'株式会社ナーチャー' if i < 3 else '個人'}"
        for i in range(6)
    ]
    (tmp_path / "people.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "segments").mkdir()
    (tmp_path / "segments" / "houjin.yaml").write_text(
        "id: houjin\nname: 法人リード\ncondition: {attr: 会社, eq: 株式会社ナーチャー}\n",
        encoding="utf-8",
    )
    assert run(tmp_path, "contacts", "import", "people.csv").returncode == 0
    synced = run(tmp_path, "segments", "sync", "--folder", "segments")
    assert synced.returncode == 0, synced.stderr
    assert "3 membership change(s)" in synced.stdout, synced.stdout
    assert run(tmp_path, "journeys", "deploy", "b2b-lead-nurture.yaml").returncode == 0

    enrolled = run(tmp_path, "journeys", "enroll", "b2b-lead-nurture", "--segment", "houjin")
    assert enrolled.returncode == 0, enrolled.stderr
    assert "enrolled 3 in b2b-lead-nurture" in enrolled.stdout, enrolled.stdout

    removed = run(tmp_path, "journeys", "remove", "b2b-lead-nurture", "--segment", "houjin")
    assert removed.returncode == 0, removed.stderr
    assert "removed 3 from b2b-lead-nurture (3 contacts matched)" in removed.stdout
