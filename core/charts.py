"""Bar charts drawn by the server as inline SVG (templates/charts/bars.html): no JavaScript, and
only presentation attributes (x, y, width, height), so the page's CSP (style-src 'self') holds.

The geometry is computed here in viewBox units; the SVG scales to its container's width. Each
chart carries its title, a description and the rows of the data table behind it, which the
template shows under the drawing for screen readers and anyone who prefers numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 360  # a phone's width: 1:1 on a 360 px screen, scaled up beyond
BAR_GAP = 0.25  # share of each slot left empty


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    display: str  # the value as people read it ("2,94 €")
    x: float
    y: float
    width: float
    height: float
    label_x: float
    label_y: float
    value_x: float = 0
    value_y: float = 0
    tick: str = ""  # the short label under a column


@dataclass(frozen=True)
class Chart:
    slug: str  # unique on the page: ids of the title and description
    title: str
    description: str
    label_heading: str
    value_heading: str
    orientation: str  # "columns" (months) or "rows" (categories, buyers)
    height: int
    bars: list[Bar] = field(default_factory=list)
    width: int = WIDTH

    @property
    def empty(self) -> bool:
        return not any(bar.value for bar in self.bars)


def _scale(values: Sequence[int], room: float) -> float:
    top = max(values, default=0)
    return room / top if top > 0 else 0.0


def column_chart(
    *,
    slug: str,
    title: str,
    description: str,
    label_heading: str,
    value_heading: str,
    items: Sequence[tuple[str, int, str]],
    ticks: Sequence[str] = (),
    height: int = 200,
) -> Chart:
    """Vertical bars, one per (label, value, display), `ticks` (short labels) under the axis."""
    axis = height - 28  # room for the labels below
    slot = WIDTH / max(1, len(items))
    scale = _scale([value for _, value, _ in items], axis - 20)
    bars = []
    for i, (label, value, display) in enumerate(items):
        bar_height = round(max(0, value) * scale, 1)
        x = round(i * slot + slot * BAR_GAP / 2, 1)
        bars.append(
            Bar(
                label=label,
                value=value,
                display=display,
                x=x,
                y=round(axis - bar_height, 1),
                width=round(slot * (1 - BAR_GAP), 1),
                height=bar_height,
                label_x=round(i * slot + slot / 2, 1),
                label_y=height - 8,
                tick=ticks[i] if i < len(ticks) else label[:3],
            )
        )
    return Chart(slug, title, description, label_heading, value_heading, "columns", height, bars)


def row_chart(
    *,
    slug: str,
    title: str,
    description: str,
    label_heading: str,
    value_heading: str,
    items: Sequence[tuple[str, int, str]],
) -> Chart:
    """Horizontal bars, one per (label, value, display): the label above each bar, the amount
    at its end, so long names (organisations, categories) need no rotation."""
    row = 44
    scale = _scale([value for _, value, _ in items], WIDTH * 0.6)
    bars = []
    for i, (label, value, display) in enumerate(items):
        top = i * row
        bar_width = round(max(0, value) * scale, 1)
        bars.append(
            Bar(
                label=label,
                value=value,
                display=display,
                x=0,
                y=top + 20,
                width=bar_width,
                height=18,
                label_x=0,
                label_y=top + 15,
                value_x=bar_width + 6,
                value_y=top + 34,
            )
        )
    return Chart(
        slug, title, description, label_heading, value_heading, "rows", max(row, len(items) * row), bars
    )
