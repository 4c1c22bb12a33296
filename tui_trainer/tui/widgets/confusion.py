"""A confusion matrix as a coloured heatmap: rows are the true classes, columns the predicted.

Each cell's colour is its row-normalised rate (the share of that true class predicted as the
column's class): green on the diagonal (right answers), red off it (mistakes), stronger the
higher the rate. Counts are written in the cells when they fit; class names are abbreviated
to the column width when there are many. Arrow keys (or a click) move a cell cursor; enter (or
a click) posts `CellChosen` for the gallery to show that cell's pictures.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.widget import Widget

BASE = Color(38, 38, 44)
"""An empty cell (rate 0)."""
RIGHT = Color(46, 160, 67)
"""The diagonal at rate 1."""
WRONG = Color(215, 58, 73)
"""A mistake cell at rate 1."""
LABEL_WIDTH = 10
"""The true-class column: names longer than this are abbreviated."""
MIN_CELL = 4
"""A cell's width at least (3 characters and a space)."""
MAX_CELL = 7
"""... and at most (longer names are abbreviated: the line under the heatmap has them whole)."""
FEW = 12
"""Up to this many classes a cell is as wide as the longest name allows; more: counts only."""


def abbreviate(name: str, width: int) -> str:
    """`name` in at most `width` characters (an ellipsis marks a cut)."""
    return name if len(name) <= width else name[: max(width - 1, 0)] + "…"


def rates(matrix: list[list[int]]) -> list[list[float]]:
    """Each row divided by its sum (a row with no samples: zeros)."""
    out = []
    for row in matrix:
        total = sum(row)
        out.append([value / total if total else 0.0 for value in row])
    return out


def cell_colour(rate: float, diagonal: bool) -> Color:
    """The cell's background: the right or wrong hue, as strong as the rate."""
    return BASE.blend(RIGHT if diagonal else WRONG, min(max(rate, 0.0), 1.0))


class ConfusionHeatmap(Widget, can_focus=True):
    """The heatmap with a cell cursor (put it in a scrolling container for many classes)."""

    DEFAULT_CSS = """
    ConfusionHeatmap { width: auto; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("enter", "choose", "Show cell"),
    ]

    class CellChosen(Message):
        """The user chose a cell (enter or a click): true class id, predicted class id."""

        def __init__(self, true_id: int, pred_id: int) -> None:
            super().__init__()
            self.true_id = true_id
            self.pred_id = pred_id

    class CursorMoved(Message):
        """The cursor is on another cell."""

        def __init__(self, true_id: int, pred_id: int) -> None:
            super().__init__()
            self.true_id = true_id
            self.pred_id = pred_id

    def __init__(
        self, matrix: list[list[int]], class_names: list[str], *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        n = len(matrix)
        self.matrix = [list(row[:n]) + [0] * (n - len(row)) for row in matrix]
        self.names = [*class_names[:n], *(str(i) for i in range(len(class_names), n))]
        self.cursor = (0, 0)
        biggest = max((v for row in self.matrix for v in row), default=0)
        longest = max((len(name) for name in self.names), default=1)
        wanted = max(len(str(biggest)), longest if n <= FEW else 0) + 1
        self.cell_width = min(max(MIN_CELL, wanted), MAX_CELL)
        self.label_width = min(max(longest, 4), LABEL_WIDTH)
        self._rates = rates(self.matrix)

    def describe(self, true_id: int, pred_id: int) -> str:
        """One line about a cell: "true dog → predicted bird: 6 (17% of dog)"."""
        count = self.matrix[true_id][pred_id]
        rate = self._rates[true_id][pred_id]
        true, pred = self.names[true_id], self.names[pred_id]
        return f"true {true} → predicted {pred}: {count} ({rate:.0%} of {true})"

    # -- size and drawing ------------------------------------------------------------------------
    def get_content_width(self, container: Size, viewport: Size) -> int:
        """The labels and one cell a class."""
        return self.label_width + 1 + self.cell_width * len(self.matrix)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """A header line and one line a class."""
        return 1 + len(self.matrix)

    def render(self) -> Content:
        """The header of predicted names, then a row a true class."""
        w = self.cell_width
        parts: list[Content | tuple[str, str] | str] = [" " * (self.label_width + 1)]
        for j, name in enumerate(self.names):
            style = "bold underline" if j == self.cursor[1] else "bold"
            parts.append((abbreviate(name, w - 1).rjust(w - 1) + " ", style))
        lines = [Content.assemble(*parts)]
        for i, row in enumerate(self.matrix):
            label_style = "bold underline" if i == self.cursor[0] else "bold"
            cells: list[Content | tuple[str, str] | str] = [
                (abbreviate(self.names[i], self.label_width).ljust(self.label_width), label_style),
                " ",
            ]
            for j, count in enumerate(row):
                colour = cell_colour(self._rates[i][j], i == j)
                text = colour.get_contrast_text(0.9).hex
                value = str(count) if count else "·"
                value = value if len(value) <= w - 1 else "+"  # the count does not fit
                style = f"{text} on {colour.hex}"
                if (i, j) == self.cursor:
                    style += " bold reverse"
                cells.append((value.rjust(w - 1) + " ", style))
            lines.append(Content.assemble(*cells))
        return Content("\n").join(lines)

    # -- the cursor ------------------------------------------------------------------------------
    def cell_region(self, true_id: int, pred_id: int) -> Region:
        """Where a cell is in the widget (to scroll it into view)."""
        x = self.label_width + 1 + pred_id * self.cell_width
        return Region(x, 1 + true_id, self.cell_width, 1)

    def move_to(self, true_id: int, pred_id: int) -> None:
        """Put the cursor on a cell (clamped to the matrix) and keep it in view."""
        n = len(self.matrix)
        if not n:
            return
        self.cursor = (min(max(true_id, 0), n - 1), min(max(pred_id, 0), n - 1))
        self.refresh()
        self.post_message(self.CursorMoved(*self.cursor))
        parent = self.parent
        if isinstance(parent, Widget) and parent.is_scrollable:
            region = self.cell_region(*self.cursor).translate(self.virtual_region.offset)
            parent.scroll_to_region(region, animate=False)

    def action_move(self, rows: int, columns: int) -> None:
        """Arrow keys: one cell up, down, left or right."""
        self.move_to(self.cursor[0] + rows, self.cursor[1] + columns)

    def action_choose(self) -> None:
        """enter: show the pictures of the cell under the cursor."""
        self.post_message(self.CellChosen(*self.cursor))

    def on_click(self, event: events.Click) -> None:
        """A click on a cell moves the cursor there and chooses it."""
        column = (event.x - self.label_width - 1) // self.cell_width
        row = event.y - 1
        n = len(self.matrix)
        if event.x > self.label_width and 0 <= row < n and 0 <= column < n:
            self.move_to(row, column)
            self.action_choose()
