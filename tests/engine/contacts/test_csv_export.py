"""CSV export through the real database: columns, encodings, filters, batches, round trip."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from engine.auth.users import create_user
from engine.clock import utcnow
from engine.contacts.csv_export import COLUMNS, ExportFilter, export_contacts
from engine.contacts.csv_import import import_contacts
from engine.contacts.service import ContactRow, add_tags, upsert_contacts
from engine.errors import InvalidInput
from engine.store.models import Contact, ContactTag

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def seed(database) -> None:
    with database.unit_of_work() as session:
        owner = create_user(
            session, email="sales@example.jp", role="sales", password="x" * 12, now=NOW
        )
        session.flush()
        result = upsert_contacts(
            session,
            [
                ContactRow(
                    email="yamada@example.jp",
                    first_name="太郎",
                    last_name="山田",
                    timezone="Asia/Tokyo",
                    locale="ja",
                    lifecycle_stage="mql",
                    owner_id=owner.id,
                    attributes={
                        "company": "株式会社ノースウィンド",
                        "subscription": {"end_date": "2027-03-31", "plan": "pro"},
                    },
                ),
                ContactRow(
                    email="sato@example.jp",
                    first_name="花子",
                    last_name="佐藤",
                    attributes={"company": "株式会社サウスウィンド", "memo": "一行目\n二行目"},
                ),
                ContactRow(email="smith@example.com", first_name="John", last_name="Smith"),
            ],
            now=NOW,
            reason="test",
        )
        ids = result.ids
        add_tags(
            session,
            [(ids["yamada@example.jp"], "展示会"), (ids["yamada@example.jp"], "VIP")],
            now=NOW,
        )


def export(database, **kwargs) -> tuple[bytes, list[dict[str, str]]]:
    stream = io.BytesIO()
    export_contacts(database, stream, **kwargs)
    raw = stream.getvalue()
    encoding = "cp932" if kwargs.get("encoding") == "cp932" else "utf-8-sig"
    return raw, list(csv.DictReader(io.StringIO(raw.decode(encoding), newline="")))


def test_columns_then_attributes_flattened_with_bom(database):
    seed(database)
    raw, rows = export(database)

    assert raw.startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to read UTF-8 Japanese
    header = raw.decode("utf-8-sig").splitlines()[0].split(",")
    assert header == [
        *COLUMNS,
        "company",
        "memo",
        "subscription.end_date",
        "subscription.plan",
    ]
    yamada = rows[0]
    assert yamada["email"] == "yamada@example.jp" and yamada["last_name"] == "山田"
    assert yamada["owner"] == "sales@example.jp"
    assert yamada["tags"] == "VIP;展示会"
    assert yamada["subscription.end_date"] == "2027-03-31"
    assert yamada["score"] == "0" and yamada["lifecycle_stage"] == "mql"
    assert datetime.fromisoformat(yamada["created_at"]) == NOW
    assert rows[1]["memo"] == "一行目\n二行目" and rows[1]["subscription.plan"] == ""


def test_round_trip_through_import(database, tmp_path):
    seed(database)
    raw, _ = export(database)
    with database.sessions() as session:
        before = {
            c.email: (
                c.first_name,
                c.last_name,
                c.timezone,
                c.locale,
                c.lifecycle_stage,
                c.attributes,
            )
            for c in session.scalars(select(Contact))
        }
        tags_before = sorted(session.execute(select(ContactTag.tag)).scalars())
        owner_before = session.scalar(select(Contact.owner_id).where(Contact.owner_id.is_not(None)))
    with database.unit_of_work() as session:
        session.execute(Contact.__table__.delete())

    path = tmp_path / "export.csv"
    path.write_bytes(raw)
    result = import_contacts(database, path)

    assert (result.created, result.problems) == (3, [])
    with database.sessions() as session:
        after = {
            c.email: (
                c.first_name,
                c.last_name,
                c.timezone,
                c.locale,
                c.lifecycle_stage,
                c.attributes,
            )
            for c in session.scalars(select(Contact))
        }
        assert after == before
        assert sorted(session.execute(select(ContactTag.tag)).scalars()) == tags_before
        assert (
            session.scalar(select(Contact.owner_id).where(Contact.owner_id.is_not(None)))
            == owner_before
        )


def test_filters(database):
    seed(database)
    with database.unit_of_work() as session:
        session.execute(
            update(Contact)
            .where(Contact.email == "sato@example.jp")
            .values(updated_at=NOW + timedelta(days=2))
        )

    def emails(**where) -> list[str]:
        return [r["email"] for r in export(database, where=ExportFilter(**where))[1]]

    assert emails(lifecycle_stage="mql") == ["yamada@example.jp"]
    assert emails(tag="展示会") == ["yamada@example.jp"]
    assert emails(updated_since=NOW + timedelta(days=1)) == ["sato@example.jp"]
    assert emails(lifecycle_stage="subscriber", tag="展示会") == []


def test_small_batches_still_export_everyone_once(database):
    with database.unit_of_work() as session:
        upsert_contacts(
            session,
            [ContactRow(email=f"c{i}@example.jp", attributes={f"k{i % 3}": i}) for i in range(7)],
            now=utcnow(),
            reason="test",
        )
    _, rows = export(database, batch_size=2)
    assert [r["email"] for r in rows] == [f"c{i}@example.jp" for i in range(7)]
    assert rows[4]["k1"] == "4" and rows[4]["k0"] == ""  # numbers in their JSON form


def test_cp932_for_old_excel_and_a_clear_error_for_what_it_cannot_hold(database):
    seed(database)
    raw, rows = export(database, encoding="cp932")
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert rows[0]["last_name"] == "山田"

    with database.unit_of_work() as session:
        session.execute(
            update(Contact).where(Contact.email == "sato@example.jp").values(first_name="花子🌸")
        )
    with pytest.raises(InvalidInput) as raised:
        export(database, encoding="cp932")
    assert raised.value.problems[0].field == "sato@example.jp: first_name"


def test_bad_options_are_refused(database):
    with pytest.raises(InvalidInput) as raised:
        export(
            database,
            encoding="latin-9",
            where=ExportFilter(lifecycle_stage="vip", updated_since=datetime(2026, 1, 1)),
        )
    assert [p.field for p in raised.value.problems] == ["--encoding", "--stage", "--updated-since"]
