"""Migrations match the models on both backends, and go down and up again cleanly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from engine.store.migrate import current_revision, downgrade, head_revision, upgrade
from engine.store.models import Base


def test_models_and_migrations_do_not_drift(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_downgrade_to_empty_and_back(database):
    downgrade(database.engine, "base")
    try:
        assert current_revision(database.engine) is None
        assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    finally:
        upgrade(database.engine)
    assert current_revision(database.engine) == head_revision(database.engine)
    assert set(Base.metadata.tables) <= set(inspect(database.engine).get_table_names())


def test_enrollments_leave_a_third_of_each_page_free_on_postgresql(database):
    """The sweep's lease then updates a row in place, without touching its indexes."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage parameter")
    with database.engine.connect() as connection:
        options = connection.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'enrollments'")
        ).scalar()
    assert options == ["fillfactor=70"]
