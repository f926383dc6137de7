"""Reports out of pandas: CSV text for spreadsheets, plain records for JSON."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def to_csv(frame: pd.DataFrame) -> str:
    """Return ``frame`` as CSV text (header row, no index, empty cells for missing values)."""
    return frame.to_csv(index=False, lineterminator="\n")


def write_csv(frame: pd.DataFrame, path: str) -> None:
    """Write ``frame`` to ``path`` as UTF-8 CSV with a BOM, so Excel reads Japanese correctly."""
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        handle.write(to_csv(frame))


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return one dict per row with plain Python values; missing numbers become None."""
    records = frame.astype(object).to_dict("records")
    return [
        {
            str(k): None if isinstance(v, float) and math.isnan(v) else _plain(v)
            for k, v in row.items()
        }
        for row in records
    ]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
