"""``nurture analytics``: RFM classes, revenue deciles, conversion rates and sales follow-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.runtime import load_settings, open_database, out, reported

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.orm import Session

app = typer.Typer(help="Analytics: RFM, revenue deciles, conversion rates, sales follow-up.")

CsvOption = Annotated[
    Path | None,
    typer.Option("--csv", help="Write the table to this CSV file (UTF-8, Excel-ready)."),
]
EventOption = Annotated[str, typer.Option("--event", help="The purchase event type.")]
AsOfOption = Annotated[
    datetime | None,
    typer.Option("--as-of", help="Compute as of this UTC time (default: now)."),
]
CurrencyOption = Annotated[
    str, typer.Option("--currency", help="ISO 4217 currency of the amounts (JPY: no decimals).")
]


def _moment(as_of: datetime | None) -> datetime:
    from engine.clock import utcnow

    if as_of is None:
        return utcnow()
    return as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=UTC)


def _report(build: Callable[[Session], pd.DataFrame], csv: Path | None) -> pd.DataFrame:
    """Build a report in one unit of work, then print it or write it as CSV."""
    from engine.analytics.export import write_csv

    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        frame = build(session)
    if csv is not None:
        write_csv(frame, str(csv))
        out.print(f"wrote {len(frame):,} row(s) to {csv}")
    else:
        _print(frame)
    return frame


def _print(frame: pd.DataFrame) -> None:
    # Rich measures cells by terminal width, so Japanese (two columns a character) aligns.
    from rich.table import Table

    from engine.analytics.export import to_records

    table = Table(*(str(c) for c in frame.columns))
    for row in to_records(frame):
        table.add_row(*(_cell(v) for v in row.values()))
    out.print(table)
    if frame.empty:
        out.print("no data")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@app.command("rfm")
def rfm(
    store: Annotated[
        bool, typer.Option("--store", help="Save the scores so {rfm: …} segments use them.")
    ] = False,
    csv: CsvOption = None,
    event: EventOption = "purchase",
    currency: CurrencyOption = "JPY",
    as_of: AsOfOption = None,
) -> None:
    """Score every customer's recency, frequency and money spent (1–5) and name the class."""
    from engine.analytics import PurchaseSource, compute_rfm, store_rfm

    now = _moment(as_of)

    def build(session: Session) -> pd.DataFrame:
        scores = compute_rfm(session, now=now, source=PurchaseSource(event, currency.upper()))
        if store:
            store_rfm(session, scores, now=now)
        return scores

    frame = _report(build, csv)
    if store:
        out.print(f"stored RFM scores for {len(frame):,} customer(s)")


@app.command("deciles")
def deciles(
    csv: CsvOption = None,
    event: EventOption = "purchase",
    currency: CurrencyOption = "JPY",
    as_of: AsOfOption = None,
) -> None:
    """Split customers into ten groups by revenue: share, cumulative share, order value."""
    from engine.analytics import PurchaseSource, revenue_deciles

    now = _moment(as_of)
    source = PurchaseSource(event, currency.upper())
    _report(lambda session: revenue_deciles(session, now=now, source=source), csv)


@app.command("conversions")
def conversions(
    by: Annotated[
        str, typer.Option("--by", help="journey, source or stage.", show_default=True)
    ] = "journey",
    csv: CsvOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Show conversion rates per journey, per acquisition source or per lifecycle stage."""
    from engine.analytics import CONVERSION_DIMENSIONS
    from engine.analytics import conversions as report

    if by not in CONVERSION_DIMENSIONS:
        raise typer.BadParameter(
            f"expected one of {', '.join(CONVERSION_DIMENSIONS)}, got {by!r}", param_hint="--by"
        )
    now = _moment(as_of)
    _report(lambda session: report(session, by=by, now=now), csv)


@app.command("sales")
def sales(csv: CsvOption = None, as_of: AsOfOption = None) -> None:
    """Show handoffs per rep: accepted (MQL → SQL), rejected, open, median hours to accept."""
    from engine.analytics import sales_by_rep

    now = _moment(as_of)
    _report(lambda session: sales_by_rep(session, now=now), csv)
