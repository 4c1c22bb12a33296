"""A lean sparkline: bars drawn straight into cached strips, rebuilt only when data or size change.

Textual's `Sparkline` re-renders through Rich (fractions, per-cell colour blending) on every
repaint; while training, every CPU cycle the UI spends is one the trainer does not get, so this
one computes its rows once per change and hands the compositor the same strips afterwards.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"
SHADES = 8
"""Colour steps from the faint low end to the full colour at the maximum."""


def columns(data: list[float], width: int) -> list[float]:
    """`data` resampled to `width` columns: bucket means, or stretched when shorter."""
    n = len(data)
    if n == 0 or width <= 0:
        return []
    if n <= width:
        return [data[col * n // width] for col in range(width)]
    out = []
    for col in range(width):
        start, end = col * n // width, (col + 1) * n // width
        bucket = data[start:end]
        out.append(sum(bucket) / len(bucket))
    return out


def bar_levels(values: list[float], height: int) -> list[int]:
    """Each column's bar height in eighths of a cell; the minimum still shows as one eighth."""
    if not values:
        return []
    low, high = min(values), max(values)
    span = high - low
    top = height * 8
    if span <= 0:
        return [1] * len(values)
    return [1 + round((v - low) / span * (top - 1)) for v in values]


class Spark(Widget):
    """Bars of a series filling the widget; colour from CSS `color`, fading towards low values."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: list[float] = []
        self._version = 0
        self._key: tuple[object, ...] = ()
        self._rows: list[Strip] = []

    @property
    def data(self) -> list[float]:
        """The series shown."""
        return self._data

    @data.setter
    def data(self, values: list[float]) -> None:
        if values != self._data:
            self._data = list(values)
            self._version += 1
            self.refresh()

    def _styles(self) -> list[Style]:
        _, background = self.background_colors
        color = self.styles.color
        faint = background.blend(color, 0.35)
        bg = background.rich_color
        return [
            Style(color=faint.blend(color, i / (SHADES - 1)).rich_color, bgcolor=bg)
            for i in range(SHADES)
        ]

    def _build(self) -> list[Strip]:
        width, height = self.size
        styles = self._styles()
        blank = Style(bgcolor=self.background_colors[1].rich_color)
        levels = bar_levels(columns(self._data, width), height)
        top = max(height * 8, 1)
        rows = []
        for row in range(height):
            floor = (height - 1 - row) * 8  # eighths below this row
            segments: list[Segment] = []
            for level in levels:
                fill = level - floor
                if fill <= 0:
                    segments.append(Segment(" ", blank))
                else:
                    char = BARS[min(fill, 8) - 1]
                    segments.append(Segment(char, styles[(level - 1) * SHADES // top]))
            strip = Strip(Segment.simplify(segments), len(levels))
            rows.append(strip.extend_cell_length(width, blank))
        return rows

    def render_line(self, y: int) -> Strip:
        """One row of bars (rows are rebuilt only after the data or the size changed)."""
        key = (self._version, self.size, self.styles.color, self.app.theme)
        if key != self._key:
            self._rows, self._key = self._build(), key
        if y < len(self._rows):
            return self._rows[y]
        return Strip.blank(self.size.width, self.rich_style)
