"""JSON read back from PostgreSQL: fast parsing that never changes a value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from engine.store.db import load_json, make_engine
from tests.conftest import BACKENDS, POSTGRES_URL

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_load_json_reads_what_json_dumps_wrote(value):
    import json

    assert load_json(json.dumps(value).encode()) == value


def test_integers_beyond_64_bits_keep_every_digit():
    document = (
        b'{"\xe4\xbc\x9a\xe5\x93\xa1\xe7\x95\xaa\xe5\x8f\xb7": 123456789012345678901234567890}'
    )
    parsed = load_json(document)
    assert parsed == {"会員番号": 123456789012345678901234567890}
    assert isinstance(parsed["会員番号"], int)
    assert load_json(b"[18446744073709551616, 9223372036854775807]") == [2**64, 2**63 - 1]


def test_what_orjson_refuses_is_still_read():
    assert load_json(b'["\\ud800", NaN]')[0] == "\ud800"  # json.loads takes both
    assert load_json('{"名前": "\ud800"}') == {"名前": "\ud800"}  # SQLite hands over text


def test_stored_attributes_read_back_unchanged_on_each_backend(database):
    from engine.store.models import Contact
    from tests.engine.runtime.test_advance import lead

    attributes = {"会員番号": 2**70, "会社": "株式会社ナーチャー", "単価": 1.25, "敬称": "様"}
    with database.unit_of_work() as session:
        contact = lead(session, "hanako@example.jp", "佐藤", "花子", at=NOW)
        contact.attributes = attributes
        session.flush()
        contact_id = contact.id
    with database.sessions() as session:
        stored = session.get(Contact, contact_id).attributes
    assert stored == attributes
    assert type(stored["会員番号"]) is int


def test_postgresql_columns_come_back_through_load_json():
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among NURTURE_TEST_DATABASES")
    engine = make_engine(POSTGRES_URL, pool_size=1)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT CAST(:a AS jsonb), CAST(:b AS json), CAST(:c AS jsonb)"),
                {
                    "a": '{"姓": "山田", "名": "太郎", "敬称": "様"}',
                    "b": '{"big": 123456789012345678901234567890}',
                    "c": '{"score": 1.5, "n": 42}',
                },
            ).one()
    finally:
        engine.dispose()
    assert row[0] == {"姓": "山田", "名": "太郎", "敬称": "様"}
    assert row[1] == {"big": 123456789012345678901234567890}
    assert type(row[1]["big"]) is int
    assert row[2] == {"score": 1.5, "n": 42}
