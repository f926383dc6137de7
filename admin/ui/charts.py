"""Charts for the admin pages.

The browser draws them with the vendored Chart.js (``/admin/static/charts.js``) from the
figures the server writes into the canvas's ``data-chart`` attribute: no inline script for
the CSP to allow, and the numbers are exactly the ones in the table beside each chart.
``bar_chart`` lays out the same bars as SVG for readers without JavaScript.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

WIDTH, HEIGHT, GAP = 720.0, 200.0, 0.2

ChartKind = Literal["bar", "line"]


@dataclass(frozen=True, slots=True)
class Bar:
    """One rectangle, in the chart's coordinates, with its label for screen readers."""

    x: float
    y: float
    width: float
    height: float
    series: int
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """Grouped bars: one group per key, one bar per series; ``series`` names the legend."""

    width: float
    height: float
    bars: list[Bar]
    series: list[str]
    keys: list[str]
    peak: float


def bar_chart(keys: list[str], series: dict[str, list[float]]) -> Chart:
    """Lay out grouped bars scaled to the tallest value (an empty chart when all are zero)."""
    names = list(series)
    peak = max((v for values in series.values() for v in values), default=0.0)
    bars: list[Bar] = []
    if keys and names:
        group = WIDTH / len(keys)
        bar = group * (1 - GAP) / len(names)
        for i, key in enumerate(keys):
            for j, name in enumerate(names):
                value = series[name][i]
                height = HEIGHT * value / peak if peak else 0.0
                bars.append(
                    Bar(
                        x=round(i * group + group * GAP / 2 + j * bar, 2),
                        y=round(HEIGHT - height, 2),
                        width=round(bar, 2),
                        height=round(height, 2),
                        series=j,
                        label=f"{key} {name}: {value:g}",
                    )
                )
    return Chart(WIDTH, HEIGHT, bars, names, keys, peak)


def chart_data(
    keys: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    kind: ChartKind = "bar",
    percent: bool = False,
) -> str:
    """Return the JSON that ``charts.js`` hands to Chart.js: labels and one dataset per series.

    Values go through unrounded so the chart shows what the database holds; ``percent``
    marks fractions (0–1) that the axis and tooltips show as percentages.

    Raises ``ValueError`` when a series has not one value per key.
    """
    for name, values in series.items():
        if len(values) != len(keys):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(keys)} keys")
    return json.dumps(
        {
            "type": kind,
            "percent": percent,
            "labels": list(keys),
            "datasets": [
                {"label": name, "data": [_plain(v) for v in values]}
                for name, values in series.items()
            ],
        },
        ensure_ascii=False,
    )


def _plain(value: float) -> float | int | None:
    # JSON has no NaN; an integral float is written as an integer so it reads as a count.
    if value != value:
        return None
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float
