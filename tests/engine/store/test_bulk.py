"""The set-at-a-time helpers of ``engine.store.bulk``, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.events.service import EVENT_KINDS
from engine.store.bulk import among, insert_new_rows, insert_rows, update_by_id
from engine.store.models import Contact, ContactTag, Event
from engine.store.models.base import table_of

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def contacts(session, count: int) -> list[int]:
    table = table_of(Contact)
    rows = [
        {
            "email": f"bulk{n}@example.jp",
            "last_name": "佐藤",
            "first_name": "花子",
            "attributes": {"会員": {"ランク": "ゴールド", "ポイント": n}, "plan": "trial"},
            "lifecycle_stage": "lead",
            "score": n,
            "created_at": NOW,
            "updated_at": NOW,
        }
        for n in range(count)
    ]
    return list(session.scalars(insert(table).returning(table.c.id), rows))


def test_among_finds_the_same_rows_whatever_the_count(database):
    with database.unit_of_work() as session:
        ids = contacts(session, 30)
    for wanted in ([], ids[:1], ids[::3], [*ids, 10**9]):
        with database.sessions() as session:
            found = session.scalars(select(Contact.id).where(among(session, Contact.id, wanted)))
            assert sorted(found) == sorted(set(wanted) & set(ids))


def test_update_by_id_sets_adds_and_merges_each_row_with_constants(database):
    later = NOW + timedelta(hours=1)
    with database.unit_of_work() as session:
        first, second = contacts(session, 2)
        update_by_id(
            session,
            table_of(Contact),
            [
                {
                    "id": first,
                    "score": 5,
                    "attributes": {"会員": {"ランク": "プラチナ"}, "plan": None},
                },
                {"id": second, "score": -1, "attributes": {"趣味": "茶道"}},
            ],
            {"score": "int", "attributes": "jsonb"},
            constants={"updated_at": later},
            added=frozenset({"score"}),
            merged=frozenset({"attributes"}),
        )
    with database.sessions() as session:
        rows = {
            r.id: r
            for r in session.execute(
                select(Contact.id, Contact.score, Contact.attributes, Contact.updated_at)
            )
        }
    assert rows[first].score == 5 and rows[second].score == 0
    assert rows[first].attributes == {"会員": {"ランク": "プラチナ", "ポイント": 0}}
    assert rows[second].attributes == {
        "会員": {"ランク": "ゴールド", "ポイント": 1},
        "plan": "trial",
        "趣味": "茶道",
    }
    assert {r.updated_at for r in rows.values()} == {later}


def test_insert_rows_fills_constants_and_skips_conflicts_when_asked(database):
    with database.unit_of_work() as session:
        first, second = contacts(session, 2)
        rows = [{"contact_id": first, "tag": "見込み客"}, {"contact_id": second, "tag": "VIP"}]
        kinds = {"contact_id": "bigint", "tag": "text"}
        insert_rows(session, table_of(ContactTag), rows, kinds, constants={"added_at": NOW})
        insert_rows(
            session,
            table_of(ContactTag),
            [*rows, {"contact_id": first, "tag": "VIP"}],
            kinds,
            constants={"added_at": NOW + timedelta(days=1)},
            ignore_conflicts=True,
        )
    with database.sessions() as session:
        tags = set(
            session.execute(select(ContactTag.contact_id, ContactTag.tag, ContactTag.added_at))
        )
    assert tags == {
        (first, "見込み客", NOW),
        (second, "VIP", NOW),
        (first, "VIP", NOW + timedelta(days=1)),
    }


def test_rare_conflicts_are_skipped_and_the_transaction_goes_on(database):
    """``conflicts_rare``: a refused row falls back to skipping it; the rest of the batch and
    of the transaction land, and a batch with no conflict lands by the plain insert."""
    kinds = {"contact_id": "bigint", "tag": "text"}
    with database.unit_of_work() as session:
        first, second = contacts(session, 2)
        table = table_of(ContactTag)
        insert_rows(
            session,
            table,
            [{"contact_id": first, "tag": "見込み客"}],
            kinds,
            constants={"added_at": NOW},
            ignore_conflicts=True,
            conflicts_rare=True,
        )
        insert_rows(
            session,
            table,
            [{"contact_id": first, "tag": "見込み客"}, {"contact_id": second, "tag": "VIP"}],
            kinds,
            constants={"added_at": NOW + timedelta(days=1)},
            ignore_conflicts=True,
            conflicts_rare=True,
        )
        session.execute(update(table_of(Contact)).values(last_name="鈴木"))
    with database.sessions() as session:
        tags = set(
            session.execute(select(ContactTag.contact_id, ContactTag.tag, ContactTag.added_at))
        )
        names = set(session.scalars(select(Contact.last_name)))
    assert tags == {(first, "見込み客", NOW), (second, "VIP", NOW + timedelta(days=1))}
    assert names == {"鈴木"}


def test_rare_conflicts_still_raise_any_other_refusal(database):
    with database.sessions() as session:
        [contact] = contacts(session, 1)
        with pytest.raises(IntegrityError, match="tag"):
            insert_rows(
                session,
                table_of(ContactTag),
                [{"contact_id": contact, "tag": None}],
                {"contact_id": "bigint", "tag": "text"},
                constants={"added_at": NOW},
                ignore_conflicts=True,
                conflicts_rare=True,
            )
        session.rollback()


def test_insert_new_rows_returns_only_what_landed_with_nested_documents_intact(database):
    kinds = {k: v for k, v in EVENT_KINDS.items() if k not in ("id", "anonymous_id")}
    with database.unit_of_work() as session:
        [contact] = contacts(session, 1)
        row = {
            "contact_id": contact,
            "type": "form_submitted",
            "properties": {"フォーム": "資料請求", "項目": [1, "二", {"三": None}]},
            "occurred_at": NOW,
            "received_at": NOW,
            "source": "api",
        }
        first = insert_new_rows(
            session,
            table_of(Event),
            [{**row, "idempotency_key": "k1"}],
            kinds,
            key="idempotency_key",
        )
        again = insert_new_rows(
            session,
            table_of(Event),
            [{**row, "idempotency_key": "k1"}, {**row, "idempotency_key": "k2"}],
            kinds,
            key="idempotency_key",
        )
    assert first == {"k1"} and again == {"k2"}
    with database.sessions() as session:
        stored = session.scalars(
            select(Event.properties).where(Event.idempotency_key == "k2")
        ).one()
        at = session.scalars(select(Event.occurred_at).where(Event.idempotency_key == "k2")).one()
    assert stored["フォーム"] == "資料請求" and stored["項目"] == [1, "二", {"三": None}]
    assert at == NOW
