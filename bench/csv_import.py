"""CSV import of 100,000 generated contacts with Japanese names, vs pandas + a bare INSERT.

The baseline reads the same file with ``pandas.read_csv`` and inserts the same rows into
``contacts`` with one Core INSERT per 5,000 rows: the floor for getting a file into the table.
The ratio is what mapping, validation, merge-upsert and stage history cost on top.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, text

from bench.runner import Context, Figure, median, rate
from engine.clock import utcnow
from engine.contacts.csv_import import import_contacts
from engine.store.models import Base

ROWS = 100_000
BATCH = 5_000
FAMILY = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村", "小林", "加藤"]
GIVEN = ["太郎", "花子", "一郎", "美咲", "翔", "陽菜", "蓮", "結衣", "大翔", "さくら"]
STAGES = ["subscriber", "lead", "mql"]


def write_file(path: Path, rows: int = ROWS, seed: int = 7) -> Path:
    """A CSV as a Japanese marketing team exports it: Japanese headers, names and companies."""
    chance = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("メールアドレス,姓,名,timezone,lifecycle_stage,会社名,subscription.end_date\n")
        for i in range(rows):
            handle.write(
                f"user{i}@example.co.jp,{chance.choice(FAMILY)},{chance.choice(GIVEN)},Asia/Tokyo,"
                f"{chance.choice(STAGES)},株式会社{chance.choice(FAMILY)}商事{i % 997},"
                f"2027-{chance.randint(1, 12):02d}-28\n"
            )
    return path


def empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in ("stage_changes", "contact_tags", "contacts"):
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names


def bare_insert(engine: Engine, path: Path) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "email": email.lower(),
            "last_name": last,
            "first_name": first,
            "timezone": tz,
            "lifecycle_stage": stage,
            "attributes": {"会社名": company, "subscription": {"end_date": end}},
            "score": 0,
            "created_at": now,
            "updated_at": now,
        }
        for email, last, first, tz, stage, company, end in frame.itertuples(index=False)
    ]
    for start in range(0, len(rows), BATCH):
        with engine.begin() as connection:
            connection.execute(
                insert(Base.metadata.tables["contacts"]), rows[start : start + BATCH]
            )


def run(context: Context) -> list[Figure]:
    path = write_file(context.folder / "contacts.csv")
    database = context.database()
    imported, bare = [], []
    try:
        for _ in range(context.repeat):
            empty(database.engine)
            imported.append(rate(ROWS, lambda: import_contacts(database, path)))
            empty(database.engine)
            bare.append(rate(ROWS, lambda: bare_insert(database.engine, path)))
    finally:
        database.dispose()
    return [
        Figure(
            "csv_import",
            f"{ROWS:,} new contacts from CSV",
            "rows/s",
            median(imported),
            "read_csv + Core INSERT",
            median(bare),
            context.repeat,
        )
    ]
