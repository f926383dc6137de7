"""``nurture analytics``: Rich tables with Japanese, CSV files, stored RFM classes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from engine.store.models import RfmScore
from tests.engine.analytics.shop import NOW, seed, seed_funnel

AS_OF = NOW.strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
def nurture(database, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NURTURE_DATABASE_URL", database.url)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["analytics", *args], env={"COLUMNS": "200"})

    return run


def test_tables_csv_and_stored_scores(nurture, database, tmp_path: Path) -> None:
    with database.unit_of_work() as session:
        seed_funnel(session, seed(session))
    sources = nurture("conversions", "--by", "source", "--as-of", AS_OF)
    target = tmp_path / "rfm.csv"
    rfm = nurture("rfm", "--store", "--csv", str(target), "--as-of", AS_OF)
    sales = nurture("sales", "--as-of", AS_OF)
    assert sources.exit_code == 0, sources.output
    assert "メルマガ" in sources.output and "展示会" in sources.output
    assert rfm.exit_code == 0, rfm.output
    assert "stored RFM scores for 5 customer(s)" in rfm.output
    with target.open(encoding="utf-8-sig", newline="") as handle:
        classes = [row["class"] for row in csv.DictReader(handle)]
    assert sorted(classes) == [
        "at_risk",
        "champions",
        "hibernating",
        "loyal",
        "potential_loyalists",
    ]
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(RfmScore)) == 5
    assert "kato@example.jp" in sales.output and "0.6667" in sales.output


def test_an_unknown_dimension_is_a_usage_error(nurture) -> None:
    result = nurture("conversions", "--by", "country")
    assert result.exit_code == 2
    assert "journey, source, stage" in result.output


def test_static_lists_filled_by_import_can_be_listed_and_shown(
    database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NURTURE_DATABASE_URL", database.url)
    runner = CliRunner()
    people = tmp_path / "来場者.csv"
    people.write_text("email,姓,名\nyamada@example.jp,山田,太郎\nsato@example.jp,佐藤,花子\n")

    def nurture(*args: str):
        return runner.invoke(app, list(args), env={"COLUMNS": "200"})

    created = nurture("lists", "create", "vip-2026", "--name", "優良顧客 2026")
    again = nurture("lists", "create", "vip-2026")
    imported = nurture("contacts", "import", str(people), "--list", "expo-2026")
    listed = nurture("lists", "list")
    shown = nurture("lists", "show", "expo-2026", "--sample", "1")
    missing = nurture("lists", "show", "nothing")
    assert created.exit_code == 0, created.output
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert imported.exit_code == 0, imported.output
    assert "優良顧客 2026" in listed.output and "expo-2026" in listed.output
    assert "2 member(s)" in shown.output
    assert shown.output.count("@example.jp") == 1
    assert missing.exit_code == 1
    assert "no list 'nothing'" in missing.output
