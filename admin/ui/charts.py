"""Bar charts drawn on the server as SVG: no script, nothing for the CSP to allow."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT, GAP = 720.0, 200.0, 0.2


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
