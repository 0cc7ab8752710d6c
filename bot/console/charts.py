"""Chart geometry for server-rendered SVG: no charting library, no script, nothing from a CDN.

The functions here turn counts into shapes with coordinates; ``templates/_charts.html`` draws them
as inline SVG (``role="img"`` with a title and a description) followed by the same numbers as a
table, for screen readers and for anyone who prefers to read. Colours come from CSS classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 720
ROW_HEIGHT = 28
BAR_HEIGHT = 18


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    value: int
    series: str  # CSS class: the colour
    label: str  # the series' name, for the tooltip


@dataclass(frozen=True)
class Row:
    label: str
    full_label: str
    y: float
    segments: tuple[Segment, ...]
    value_text: str
    value_x: float


@dataclass(frozen=True)
class HBarChart:
    """Horizontal bars, one row per category, optionally stacked."""

    id: str
    title: str
    description: str
    width: int
    height: int
    label_width: int
    rows: tuple[Row, ...]
    legend: tuple[tuple[str, str], ...]  # (css class, label)


@dataclass(frozen=True)
class ColumnGroup:
    label: str
    x: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class ColumnChart:
    """Grouped vertical bars: one group per period, one bar per series."""

    id: str
    title: str
    description: str
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    groups: tuple[ColumnGroup, ...]
    ticks: tuple[tuple[float, str], ...]  # (y, label)
    legend: tuple[tuple[str, str], ...]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "–"


def funnel_chart(
    chart_id: str, title: str, stages: Sequence[tuple[str, int]], label_width: int = 190,
    width: int = WIDTH,
) -> HBarChart:
    """One bar per stage; each labelled with its count and its share of the first stage."""
    first = stages[0][1] if stages else 0
    biggest = max((n for _, n in stages), default=0) or 1
    plot = width - label_width - 90
    rows = []
    for i, (label, count) in enumerate(stages):
        y = 8 + i * ROW_HEIGHT
        bar = plot * count / biggest
        rows.append(
            Row(
                label=_shorten(label, 30),
                full_label=label,
                y=y,
                segments=(Segment(label_width, y, bar, BAR_HEIGHT, count, f"s{i}", label),),
                value_text=f"{count} ({_percent(count, first)})" if i else str(count),
                value_x=label_width + bar + 6,
            )
        )
    description = "; ".join(f"{label}: {count}" for label, count in stages)
    return HBarChart(
        chart_id, title, description, width, 16 + len(rows) * ROW_HEIGHT, label_width,
        tuple(rows), (),
    )


def stacked_bar_chart(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[int]]],
    series: Sequence[tuple[str, str]],
    label_width: int = 330,
    width: int = WIDTH,
) -> HBarChart:
    """One bar per row made of one segment per series (``series``: css class, name)."""
    biggest = max((sum(values) for _, values in rows), default=0) or 1
    plot = width - label_width - 50
    built = []
    for i, (label, values) in enumerate(rows):
        y = 8 + i * ROW_HEIGHT
        x = float(label_width)
        segments = []
        for (css, name), value in zip(series, values, strict=True):
            w = plot * value / biggest
            if value:
                segments.append(Segment(x, y, w, BAR_HEIGHT, value, css, name))
            x += w
        built.append(
            Row(_shorten(label, 48), label, y, tuple(segments), str(sum(values)), x + 6)
        )
    description = "; ".join(
        f"{label}: " + ", ".join(f"{v} {name}" for (_, name), v in zip(series, values, strict=True))
        for label, values in rows
    )
    return HBarChart(
        chart_id, title, description or "No data", width, 16 + len(built) * ROW_HEIGHT,
        label_width, tuple(built), tuple(series),
    )


def _nice_step(biggest: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if biggest / step <= 5:
            return step
    return 10 ** len(str(biggest))


def column_chart(
    chart_id: str,
    title: str,
    groups: Sequence[tuple[str, Sequence[int]]],
    series: Sequence[tuple[str, str]],
    width: int = WIDTH,
    height: int = 260,
) -> ColumnChart:
    """Grouped columns, one group per label (a week), one column per series."""
    top, bottom, left = 12, height - 40, 40
    biggest = max((v for _, values in groups for v in values), default=0)
    step = _nice_step(biggest or 1)
    ceiling = step * max(1, -(-biggest // step))
    scale = (bottom - top) / ceiling
    slot = (width - left - 8) / max(1, len(groups))
    bar = min(18.0, (slot - 6) / max(1, len(series)))
    built = []
    for i, (label, values) in enumerate(groups):
        x0 = left + i * slot + (slot - bar * len(series)) / 2
        segments = tuple(
            Segment(x0 + j * bar, bottom - v * scale, bar - 1, v * scale, v, css, name)
            for j, ((css, name), v) in enumerate(zip(series, values, strict=True))
        )
        built.append(ColumnGroup(label, left + i * slot + slot / 2, segments))
    ticks = tuple((bottom - t * scale, str(t)) for t in range(0, ceiling + 1, step))
    description = "; ".join(
        f"{label}: " + ", ".join(f"{v} {name}" for (_, name), v in zip(series, values, strict=True))
        for label, values in groups
    )
    return ColumnChart(
        chart_id, title, description or "No data", width, height, top, bottom, left,
        tuple(built), ticks, tuple(series),
    )
