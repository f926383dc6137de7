"""CSV import through the real database: mapping, encodings, line numbers, batches, options."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.auth.users import create_user
from engine.clock import utcnow
from engine.contacts.csv_import import ImportOptions, UnreadableFile, import_contacts, map_columns
from engine.contacts.schemas import ConsentIn
from engine.store.models import (
    ConsentRecord,
    Contact,
    ContactList,
    ContactTag,
    ListMember,
    Subscription,
)

PEOPLE = (
    "メールアドレス,姓,名,timezone,locale,lifecycle_stage,tags,company,subscription.end_date\n"
    "Taro.Yamada@Example.co.jp,山田,太郎,Asia/Tokyo,ja,lead,展示会;VIP,株式会社ノースウィンド,2027-03-31\n"
    "hanako@example.jp,佐藤,花子,Asia/Tokyo,ja,,展示会|セミナー,株式会社サウスウィンド,\n"
)


def write(tmp_path: Path, text: str, name: str = "people.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def contacts(database) -> dict[str, Contact]:
    with database.sessions() as session:
        return {c.email: c for c in session.scalars(select(Contact))}


def tags_of(database) -> dict[str, list[str]]:
    with database.sessions() as session:
        rows = session.execute(
            select(Contact.email, ContactTag.tag)
            .join(ContactTag, ContactTag.contact_id == Contact.id)
            .order_by(Contact.email, ContactTag.tag)
        )
        found: dict[str, list[str]] = {}
        for email, tag in rows:
            found.setdefault(email, []).append(tag)
        return found


def count(database, model) -> int:
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_japanese_headers_map_to_fields_and_dotted_columns_nest(database, tmp_path):
    result = import_contacts(database, write(tmp_path, PEOPLE), ImportOptions(tags=("csv",)))

    assert (result.rows_read, result.created, result.updated, result.problems) == (2, 2, 0, [])
    yamada = contacts(database)["taro.yamada@example.co.jp"]
    assert (yamada.last_name, yamada.first_name, yamada.lifecycle_stage) == ("山田", "太郎", "lead")
    assert yamada.timezone == "Asia/Tokyo" and yamada.locale == "ja"
    assert yamada.attributes == {
        "company": "株式会社ノースウィンド",
        "subscription": {"end_date": "2027-03-31"},
    }
    hanako = contacts(database)["hanako@example.jp"]
    assert hanako.lifecycle_stage == "subscriber"
    assert hanako.attributes == {"company": "株式会社サウスウィンド"}  # empty cell: no key
    assert tags_of(database) == {
        "hanako@example.jp": ["csv", "セミナー", "展示会"],
        "taro.yamada@example.co.jp": ["VIP", "csv", "展示会"],
    }


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("ＥＭＡＩＬ", "email"),
        ("メールアドレス", "email"),
        ("姓", "last_name"),
        ("last name", "last_name"),
        ("family_name", "last_name"),
        ("名", "first_name"),
        ("First Name", "first_name"),
        ("given_name", "first_name"),
        ("Tags", "tags"),
    ],
)
def test_header_aliases(header, field):
    targets = map_columns(["email" if field != "email" else "x", header], {})
    assert targets[1].describe() == field


def test_map_overrides_aliases_and_can_ignore_or_nest():
    header = ["Mail", "会社名", "memo", "担当"]
    targets = map_columns(
        header, {"mail": "email", "会社名": "attributes.company.name", "memo": "-"}
    )
    assert [t.describe() for t in targets] == [
        "email",
        "attributes.company.name",
        "-",
        "attributes.担当",
    ]


def test_bad_mapping_names_every_problem():
    with pytest.raises(UnreadableFile) as raised:
        map_columns(["Name", "E-mail", "Email"], {"nope": "email", "Name": "phone"})
    problems = {p.field: p.message for p in raised.value.problems}
    assert "no such column" in problems["--map nope"]
    assert "choose one of email" in problems["--map Name=phone"]
    assert "both map here" in problems["email"]


def test_file_without_email_column_is_refused_naming_the_header(database, tmp_path):
    path = write(tmp_path, "氏名,会社\n山田太郎,株式会社ノースウィンド\n")
    with pytest.raises(UnreadableFile) as raised:
        import_contacts(database, path)
    assert "no email column; the header has '氏名', '会社'" in raised.value.problems[0].message
    assert count(database, Contact) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"PK\x03\x04\x00\x00binary", "not a CSV text file"),
        (b"email\tname\na@example.jp\tA\n", "separated by tabs"),
    ],
)
def test_unreadable_files_are_refused(database, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as raised:
        import_contacts(database, path)
    assert message in raised.value.message


def test_missing_file(database, tmp_path):
    with pytest.raises(UnreadableFile, match="no such file"):
        import_contacts(database, tmp_path / "nope.csv")


def test_bad_rows_are_reported_at_their_physical_line_and_good_rows_imported(database, tmp_path):
    text = (
        "email,last_name,first_name,memo,lifecycle_stage\n"  # line 1
        'yamada@example.jp,山田,太郎,"一行目\n二行目\n三行目",lead\n'  # lines 2-4
        "taro@,田中,次郎,,lead\n"  # line 5: bad email
        "suzuki@example.jp,鈴木,一郎,メモ,lead,余分\n"  # line 6: too many fields
        "\n"  # line 7: blank, ignored
        "sato@example.jp,佐藤,花子,,boss\n"  # line 8: bad stage
        ",高橋,三郎,,\n"  # line 9: no email
        "ito@example.jp,伊藤,四郎,,customer\n"  # line 10
        'ng@example,渡辺,"五\n郎",,lead\n'  # lines 11-12: bad email, reported where it starts
    )
    result = import_contacts(database, write(tmp_path, text))

    lines = [(p.line, p.field) for p in result.errors]
    assert lines == [(5, "email"), (6, ""), (8, "lifecycle_stage"), (9, "email"), (11, "email")]
    assert result.errors[0].message.startswith("'taro@' is not a valid email address")
    assert "has 6 values but the header has 5 columns" in result.errors[1].message
    assert "'余分'" in result.errors[1].message
    assert "'boss' is not a lifecycle stage" in result.errors[2].message
    assert result.errors[3].message == "is required"
    assert (result.rows_read, result.created, result.skipped) == (7, 2, 5)
    assert set(contacts(database)) == {"yamada@example.jp", "ito@example.jp"}
    assert contacts(database)["yamada@example.jp"].attributes == {"memo": "一行目\n二行目\n三行目"}


def test_cp932_file_from_japanese_excel_is_detected(database, tmp_path):
    text = "メールアドレス,姓,名,会社名\r\nyamada@example.jp,山田,太郎,株式会社髙島屋\r\n"
    path = write(tmp_path, text, encoding="cp932")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # the fixture really is Shift_JIS

    result = import_contacts(database, path)

    assert result.encoding == "cp932" and result.created == 1
    yamada = contacts(database)["yamada@example.jp"]
    assert (yamada.last_name, yamada.first_name) == ("山田", "太郎")
    assert yamada.attributes == {"会社名": "株式会社髙島屋"}


def test_utf8_bom_is_not_part_of_the_first_header(database, tmp_path):
    path = write(tmp_path, PEOPLE, encoding="utf-8-sig")
    result = import_contacts(database, path, ImportOptions(encoding="utf-8"))
    assert result.created == 2 and result.columns[0] == ("メールアドレス", "email")


def test_forced_encoding_that_does_not_fit_is_refused(database, tmp_path):
    path = write(tmp_path, "email,姓\na@example.jp,山田\n", encoding="cp932")
    with pytest.raises(UnreadableFile, match="the file is not utf-8"):
        import_contacts(database, path, ImportOptions(encoding="utf-8"))


def test_empty_cell_keeps_the_stored_value(database, tmp_path):
    import_contacts(database, write(tmp_path, PEOPLE))
    update = "email,last_name,first_name,company,subscription.plan\nTARO.YAMADA@example.co.jp,,太朗,,pro\n"
    result = import_contacts(database, write(tmp_path, update, "update.csv"))

    assert (result.created, result.updated) == (0, 1)
    yamada = contacts(database)["taro.yamada@example.co.jp"]
    assert (yamada.last_name, yamada.first_name, yamada.lifecycle_stage) == ("山田", "太朗", "lead")
    assert yamada.attributes == {
        "company": "株式会社ノースウィンド",
        "subscription": {"end_date": "2027-03-31", "plan": "pro"},
    }


def test_repeated_email_later_row_wins_with_a_warning_naming_both_lines(database, tmp_path):
    text = (
        "email,first_name,last_name\n"
        "yamada@example.jp,太郎,山田\n"
        "other@example.jp,花子,佐藤\n"
        "YAMADA@example.jp,太朗,\n"
    )
    # batch_size=2 puts the two rows in different batches (and transactions)
    result = import_contacts(database, write(tmp_path, text), ImportOptions(batch_size=2))

    assert [(w.line, w.field) for w in result.warnings] == [(2, "email")]
    assert "appears again on line 4" in result.warnings[0].message
    assert (result.created, result.updated, result.skipped) == (2, 0, 0)
    yamada = contacts(database)["yamada@example.jp"]
    assert (yamada.first_name, yamada.last_name) == ("太朗", "山田")


def test_owner_must_be_a_user(database, tmp_path):
    with database.unit_of_work() as session:
        create_user(
            session, email="sales@example.jp", role="sales", password="x" * 12, now=utcnow()
        )
    text = "email,owner\na@example.jp,Sales@Example.jp\nb@example.jp,nobody@example.jp\n"
    result = import_contacts(database, write(tmp_path, text))

    assert [(p.line, p.field) for p in result.errors] == [(3, "owner")]
    assert "no user with email 'nobody@example.jp'" in result.errors[0].message
    assert contacts(database)["a@example.jp"].owner_id is not None


def test_rerun_is_idempotent(database, tmp_path):
    path = write(tmp_path, PEOPLE)
    options = ImportOptions(tags=("2026秋",), list_key="expo-2026")
    first = import_contacts(database, path, options)
    state = {
        e: (c.first_name, c.attributes, c.lifecycle_stage) for e, c in contacts(database).items()
    }
    second = import_contacts(database, path, options)

    assert (first.created, first.updated) == (2, 0)
    assert (second.created, second.updated) == (0, 2)
    assert {
        e: (c.first_name, c.attributes, c.lifecycle_stage) for e, c in contacts(database).items()
    } == state
    assert count(database, ContactTag) == 6 and count(database, ListMember) == 2
    assert count(database, ContactList) == 1


def test_list_and_consent_for_every_row(database, tmp_path):
    consent = ConsentIn(
        topic="marketing_email",
        granted=True,
        source="expo-2026 booth",
        text="ノースウィンドからのご案内メールを受け取ります",
    )
    result = import_contacts(
        database, write(tmp_path, PEOPLE), ImportOptions(list_key="expo-2026", consent=consent)
    )
    assert result.created == 2
    with database.sessions() as session:
        assert session.scalar(select(ContactList.name)) == "expo-2026"
        assert session.scalar(select(func.count()).select_from(ListMember)) == 2
        proofs = session.scalars(select(ConsentRecord)).all()
        assert {p.text for p in proofs} == {"ノースウィンドからのご案内メールを受け取ります"}
        assert all(s.subscribed for s in session.scalars(select(Subscription)))


def test_dry_run_validates_and_counts_but_writes_nothing(database, tmp_path):
    import_contacts(database, write(tmp_path, PEOPLE.split("hanako")[0].rsplit("\n", 1)[0] + "\n"))
    text = PEOPLE + "broken@,x,y,,,,,,\n"
    result = import_contacts(
        database, write(tmp_path, text, "dry.csv"), ImportOptions(dry_run=True, list_key="l")
    )

    assert (result.created, result.updated, result.skipped) == (1, 1, 1)
    assert count(database, Contact) == 1 and count(database, ContactList) == 0


def test_errors_file_holds_bad_rows_and_reimports_once_fixed(database, tmp_path):
    text = (
        "email,last_name,first_name,timezone\n"
        "yamada@example.jp,山田,太郎,Asia/Tokyo\n"
        "sato@example,佐藤,花子,Asia/Tokio\n"
        "suzuki@example.jp,鈴木,一郎,Asia/Tokyo,extra\n"
    )
    errors = tmp_path / "errors.csv"
    import_contacts(database, write(tmp_path, text), ImportOptions(errors_path=errors))

    rows = list(csv.reader(io.StringIO(errors.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["email", "last_name", "first_name", "timezone", "error"]
    assert rows[1][:4] == ["sato@example", "佐藤", "花子", "Asia/Tokio"]
    assert rows[1][4].startswith("line 3: email: ") and "timezone: 'Asia/Tokio'" in rows[1][4]
    assert rows[2][:4] == ["suzuki@example.jp", "鈴木", "一郎", "Asia/Tokyo"]
    assert rows[2][4].startswith("line 4: has 5 values")

    fixed = errors.read_text(encoding="utf-8-sig")
    fixed = fixed.replace("sato@example,", "sato@example.jp,").replace("Asia/Tokio", "Asia/Tokyo")
    result = import_contacts(database, write(tmp_path, fixed, "fixed.csv"))
    assert (result.created, result.errors) == (2, [])
    assert "error" not in contacts(database)["sato@example.jp"].attributes


def test_max_errors_stops_at_the_row_over_the_limit(database, tmp_path):
    rows = ["email"] + [f"ok{i}@example.jp" if i % 2 else f"bad{i}@" for i in range(10)]
    result = import_contacts(
        database, write(tmp_path, "\n".join(rows) + "\n"), ImportOptions(max_errors=2)
    )
    # bad rows sit on lines 2, 4, 6, ...: the third bad row (line 6) stops the import
    assert result.stopped_at_line == 6
    assert [p.line for p in result.errors] == [2, 4, 6]
    assert set(contacts(database)) == {"ok1@example.jp", "ok3@example.jp"}


def test_a_crash_leaves_whole_batches_only(database, tmp_path):
    rows = ["email,first_name"] + [f"c{i}@example.jp,名{i}" for i in range(7)]
    calls = []

    def clock() -> datetime:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return datetime(2026, 11, 23, 9, tzinfo=UTC)

    with pytest.raises(RuntimeError):
        import_contacts(
            database,
            write(tmp_path, "\n".join(rows) + "\n"),
            ImportOptions(batch_size=3, tags=("t",)),
            clock=clock,
        )
    assert set(contacts(database)) == {"c0@example.jp", "c1@example.jp", "c2@example.jp"}
    assert count(database, ContactTag) == 3


def test_ten_thousand_rows(database, tmp_path):
    families, givens = ["山田", "佐藤", "鈴木", "高橋"], ["太郎", "花子", "一郎", "美咲"]
    lines = ["email,姓,名,会社名,lifecycle_stage,tags"] + [
        f"user{i}@example.co.jp,{families[i % 4]},{givens[i % 4]},株式会社{i % 50},lead,展示会;VIP"
        for i in range(10_000)
    ]
    progress: list[tuple[int, float]] = []
    result = import_contacts(
        database,
        write(tmp_path, "\n".join(lines) + "\n"),
        progress=lambda rows, fraction: progress.append((rows, fraction)),
    )

    assert (result.rows_read, result.created, result.skipped) == (10_000, 10_000, 0)
    assert count(database, Contact) == 10_000 and count(database, ContactTag) == 20_000
    assert [rows for rows, _ in progress] == [5_000, 10_000] and progress[-1][1] == 1.0
